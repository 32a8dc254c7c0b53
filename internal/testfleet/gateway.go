package testfleet

import (
	"context"
	"testing"

	"upshift.dev/upshift/internal/frontdoor"
)

// RunGateway starts a gateway with cfg until the test ends.
func RunGateway(t testing.TB, cfg frontdoor.Config, token string) *frontdoor.Gateway {
	t.Helper()
	gw, stop := StartGateway(t, cfg, token)
	t.Cleanup(stop)
	return gw
}

// StartGateway starts a gateway with cfg until stop is called.
func StartGateway(t testing.TB, cfg frontdoor.Config, token string) (gw *frontdoor.Gateway, stop func()) {
	t.Helper()
	gw, err := frontdoor.New(cfg, token)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	return gw, func() { cancel(); <-done }
}
