package testfleet

import (
	"context"
	"testing"

	"upshift.dev/upshift/internal/frontdoor"
)

// RunGateway starts a gateway with cfg until the test ends.
func RunGateway(t testing.TB, cfg frontdoor.Config, token string) *frontdoor.Gateway {
	t.Helper()
	gw, err := frontdoor.New(cfg, token)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	return gw
}
