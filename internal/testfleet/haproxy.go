package testfleet

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/loadgen"
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
	runHAProxy(t, bin, "-f", cfg, "-db")
	return addr
}

// runHAProxy starts HAProxy until the test ends, showing its output if
// the test fails, and returns that output.
func runHAProxy(t testing.TB, bin string, args ...string) *SyncBuffer {
	ha := exec.Command(bin, args...)
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
	return &out
}

// HAProxyRuntime is an HAProxy in master-worker mode whose runtime API
// is open at level admin: the front door a user already runs, for the
// haproxy traffic provider's tests.
type HAProxyRuntime struct {
	// Listen is the frontend's loopback address.
	Listen string
	// Socket is the runtime API (stats socket); Config the configuration
	// file, which Reload reads again.
	Socket, Config string
	master         string
}

// StartHAProxyRuntime runs HAProxy until the test ends with a global and
// defaults section of its own and the frontends and backends body
// returns for the listen address.
func StartHAProxyRuntime(t testing.TB, body func(listen string) string) *HAProxyRuntime {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("HAProxy is not installed: run `make deps` (apt-get install haproxy)")
	}
	dir := t.TempDir()
	h := &HAProxyRuntime{Listen: LoopbackAddr(t), Socket: filepath.Join(dir, "admin.sock"), Config: filepath.Join(dir, "haproxy.cfg"), master: filepath.Join(dir, "master.sock")}
	if err := os.WriteFile(h.Config, fmt.Appendf(nil, `global
  maxconn 4096
  stats socket %s mode 600 level admin expose-fd listeners
defaults
  mode http
  option http-keep-alive
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s
%s`, h.Socket, body(h.Listen)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runHAProxy(t, bin, "-W", "-db", "-f", h.Config, "-S", h.master)
	if _, err := h.pid(t, ""); err != nil {
		t.Fatalf("HAProxy did not start: %v\n%s", err, out.String())
	}
	return h
}

// Command sends one command to HAProxy's runtime API and returns the
// answer.
func (h *HAProxyRuntime) Command(t testing.TB, cmd string) string {
	t.Helper()
	out, err := haproxyCommand(h.Socket, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Reload has the master start a new worker on the configuration file, as
// systemctl reload haproxy does, and returns once the new worker answers.
func (h *HAProxyRuntime) Reload(t testing.TB) {
	t.Helper()
	before, err := h.pid(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := haproxyCommand(h.master, "reload"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pid(t, before); err != nil {
		t.Fatalf("HAProxy did not reload: %v", err)
	}
}

// pid waits for a worker other than not to answer on the runtime API and
// returns its pid.
func (h *HAProxyRuntime) pid(t testing.TB, not string) (string, error) {
	var last error
	for range 100 {
		out, err := haproxyCommand(h.Socket, "show info")
		if err == nil {
			for _, line := range strings.Split(out, "\n") {
				if pid, ok := strings.CutPrefix(line, "Pid: "); ok && pid != not {
					return pid, nil
				}
			}
			err = fmt.Errorf("the worker is still %s", not)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return "", last
}

func haproxyCommand(socket, cmd string) (string, error) {
	conn, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", err
	}
	out, err := io.ReadAll(conn)
	return string(out), err
}

// HAProxyForNames runs HAProxy as a user's front door for a blue-green
// or canary run's names, blue serving them: the public name and the
// cluster name go to the cluster name's backend, blue's and green's names
// to backends of their own (empty until a run fills them). Each backend
// health-checks its servers, sends the public name as Host (which the
// clusters' ingresses serve), and names the server that answered in
// loadgen's backend header.
func HAProxyForNames(t testing.TB, names v1alpha1.HostNames, blue, blueAddr string) *HAProxyRuntime {
	backend := func(name, servers string) string {
		return fmt.Sprintf(`backend %s
  balance roundrobin
  option httpchk
  http-check send meth GET uri / hdr Host %s
  http-request set-header Host %s
  http-response set-header %s %%[srv_name]
%s`, name, names.Public, names.Public, loadgen.BackendHeader, servers)
	}
	return StartHAProxyRuntime(t, func(listen string) string {
		return fmt.Sprintf(`frontend fe
  bind %s
  use_backend %s if { req.hdr(host),lower,field(1,:) -m str %s }
  use_backend %%[req.hdr(host),lower,field(1,:)]
`, listen, names.Cluster, names.Public) +
			backend(names.Cluster, "  server "+blue+" "+blueAddr+" check inter 300ms\n") +
			backend(names.Blue, "") + backend(names.Green, "")
	})
}
