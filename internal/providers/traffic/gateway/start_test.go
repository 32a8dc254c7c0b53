package gateway_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/internal/providers/traffic/gateway"
)

// TestStartWait: a request refused at connect (a gateway still starting,
// as right after `upshift gateway … &`) is tried again within StartWait;
// without it, the refusal is the answer.
func TestStartWait(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens until the gateway below starts

	p := gateway.New("http://"+addr, "token")
	if err := p.DeleteRoute(t.Context(), "shop.example.com"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("with no StartWait: %v, want the refusal", err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && r.URL.Path == "/routes/shop.example.com" && r.Header.Get("Authorization") == "Bearer token" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
		}), ReadHeaderTimeout: time.Second}
		t.Cleanup(func() { srv.Close() })
		_ = srv.Serve(l)
	}()
	p.StartWait = 5 * time.Second
	if err := p.DeleteRoute(t.Context(), "shop.example.com"); err != nil {
		t.Fatalf("with StartWait, a gateway that starts 300ms later: %v", err)
	}
}
