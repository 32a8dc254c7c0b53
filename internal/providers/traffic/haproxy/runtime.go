package haproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"upshift.dev/upshift/internal/providers/traffic"
)

// runtimeAPI sends commands to HAProxy's stats socket, one per connection
// (HAProxy answers and closes in non-interactive mode).
type runtimeAPI struct {
	// addr is a unix socket path or a TCP host:port.
	addr string
}

func (r runtimeAPI) network() string {
	if strings.HasPrefix(r.addr, "/") || strings.HasPrefix(r.addr, "unix@") {
		return "unix"
	}
	return "tcp"
}

// do sends one command and returns HAProxy's answer, trimmed.
func (r runtimeAPI) do(ctx context.Context, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, r.network(), strings.TrimPrefix(r.addr, "unix@"))
	if err != nil {
		return "", fmt.Errorf("HAProxy runtime API %s: %w", r.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fmt.Errorf("HAProxy runtime API %s: %w", r.addr, err)
	}
	out, err := io.ReadAll(io.LimitReader(conn, 4<<20))
	if err != nil {
		return "", fmt.Errorf("HAProxy runtime API %s: %s: %w", r.addr, cmd, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// expect sends a command whose success HAProxy answers with nothing or
// with one of the answers given; any other answer is its error.
func (r runtimeAPI) expect(ctx context.Context, cmd string, ok ...string) error {
	out, err := r.do(ctx, cmd)
	if err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	for _, want := range ok {
		if strings.Contains(out, want) {
			return nil
		}
	}
	return refused{cmd: cmd, answer: out}
}

// refused is a command HAProxy answered with an error.
type refused struct{ cmd, answer string }

func (e refused) Error() string {
	return fmt.Sprintf("HAProxy refused %q: %s", e.cmd, strings.ReplaceAll(e.answer, "\n", " "))
}

// Admin state bits of show servers state (HAProxy's enum srv_admin): a
// server in maintenance or draining takes no new requests whatever its
// weight.
const (
	adminMaint = 0x23 // forced, inherited, or an address that did not resolve
	adminDrain = 0x18 // forced or inherited
	// adminForcedMaint is maintenance set from the CLI or the configuration
	// (disabled), which a configuration file can say.
	adminForcedMaint = 0x01
)

// server is one line of show servers state.
type server struct {
	Name   string
	Addr   string
	Port   int
	Admin  int
	Weight int
	SSL    bool
}

// takesTraffic says whether new requests may reach the server.
func (s server) takesTraffic() bool { return s.Admin&(adminMaint|adminDrain) == 0 }

// effectiveWeight is the server's weight, or 0 in maintenance or draining.
func (s server) effectiveWeight() int {
	if !s.takesTraffic() {
		return 0
	}
	return s.Weight
}

// errNoBackend is a backend HAProxy does not have.
type errNoBackend string

func (e errNoBackend) Error() string { return string(e) }

// servers reads a backend's servers in HAProxy's order.
func (r runtimeAPI) servers(ctx context.Context, backend string) ([]server, error) {
	out, err := r.do(ctx, "show servers state "+backend)
	if err != nil {
		return nil, err
	}
	if strings.Contains(out, "Can't find backend") {
		return nil, errNoBackend(fmt.Sprintf("HAProxy at %s has no backend %q", r.addr, backend))
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "# ") {
		return nil, fmt.Errorf("HAProxy runtime API %s: show servers state %s answered %q", r.addr, backend, out)
	}
	col := map[string]int{}
	for i, name := range strings.Fields(strings.TrimPrefix(lines[1], "# ")) {
		col[name] = i
	}
	for _, need := range []string{"srv_name", "srv_addr", "srv_port", "srv_admin_state", "srv_uweight", "srv_use_ssl"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("HAProxy runtime API %s: show servers state has no %s column (HAProxy 2.6 or later is needed)", r.addr, need)
		}
	}
	var out1 []server
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) < len(col) {
			continue
		}
		num := func(name string) int { n, _ := strconv.Atoi(f[col[name]]); return n }
		out1 = append(out1, server{
			Name: f[col["srv_name"]], Addr: f[col["srv_addr"]], Port: num("srv_port"),
			Admin: num("srv_admin_state"), Weight: num("srv_uweight"), SSL: num("srv_use_ssl") == 1,
		})
	}
	return out1, nil
}

// serverStats reads the counters of a backend's servers from show stat:
// the HTTP answers each gave, by class, and the requests it never
// answered (connection and response errors).
func (r runtimeAPI) serverStats(ctx context.Context, backend string) (map[string]traffic.BackendStats, error) {
	out, err := r.do(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(out, "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return nil, fmt.Errorf("HAProxy runtime API %s: show stat answered %.200q", r.addr, out)
	}
	col := map[string]int{}
	for i, name := range strings.Split(strings.TrimPrefix(lines[0], "# "), ",") {
		col[name] = i
	}
	answers := []string{"hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"}
	for _, need := range append([]string{"pxname", "svname", "econ", "eresp"}, answers...) {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("HAProxy runtime API %s: show stat has no %s column", r.addr, need)
		}
	}
	stats := map[string]traffic.BackendStats{}
	found := false
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		if len(f) < len(col) || f[col["pxname"]] != backend {
			continue
		}
		found = true
		if name := f[col["svname"]]; name != "BACKEND" && name != "FRONTEND" {
			num := func(c string) float64 { n, _ := strconv.ParseFloat(f[col[c]], 64); return n }
			unanswered := num("econ") + num("eresp")
			var s traffic.BackendStats
			for _, a := range answers {
				s.Requests += num(a)
			}
			s.Requests += unanswered
			s.Errors = num("hrsp_5xx") + unanswered
			stats[name] = s
		}
	}
	if !found {
		return nil, errNoBackend(fmt.Sprintf("HAProxy at %s has no backend %q", r.addr, backend))
	}
	return stats, nil
}
