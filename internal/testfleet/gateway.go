package testfleet

import (
	"context"
	"net"
	"testing"
	"time"

	"upshift.dev/upshift/internal/frontdoor"
)

// RunGateway starts a gateway with cfg until the test ends.
func RunGateway(t testing.TB, cfg frontdoor.Config, token string) *frontdoor.Gateway {
	t.Helper()
	gw, stop := StartGateway(t, cfg, token)
	t.Cleanup(stop)
	return gw
}

// StartGateway starts a gateway with cfg until stop is called, and
// returns once its listeners accept connections.
func StartGateway(t testing.TB, cfg frontdoor.Config, token string) (gw *frontdoor.Gateway, stop func()) {
	t.Helper()
	gw, err := frontdoor.New(cfg, token)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	stop = func() { cancel(); <-done }
	for _, addr := range []string{cfg.Listen, cfg.AdminListen, cfg.MetricsListen} {
		if addr == "" {
			continue
		}
		for i := 0; ; i++ {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case err := <-done:
				t.Fatalf("the gateway stopped: %v", err)
			default:
			}
			if i == 200 {
				stop()
				t.Fatalf("the gateway does not listen on %s: %v", addr, err)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	return gw, stop
}
