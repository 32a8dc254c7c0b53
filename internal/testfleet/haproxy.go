package testfleet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// HAProxy runs Debian's HAProxy on a loopback port in front of one
// backend (host:port), in HTTP mode with kept-alive connections, until
// the test ends, and returns its address. It is the gateway's oracle and
// its benchmark's peer; `make deps` installs it.
func HAProxy(t testing.TB, backend string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("HAProxy is not installed: run `make deps` (apt-get install haproxy)")
	}
	addr := LoopbackAddr(t)
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `global
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s
frontend fe
  bind %s
  default_backend be
backend be
  server s1 %s
`, addr, backend), 0o600); err != nil {
		t.Fatal(err)
	}
	ha := exec.Command(bin, "-f", cfg, "-db")
	var out SyncBuffer
	ha.Stdout, ha.Stderr = &out, &out
	if err := ha.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ha.Process.Kill()
		_ = ha.Wait()
		if t.Failed() {
			t.Logf("HAProxy's output:\n%s", out.String())
		}
	})
	return addr
}
