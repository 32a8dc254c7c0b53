package frontdoor_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/pki"
	"upshift.dev/upshift/internal/testfleet"
)

// named is a backend that answers with its name and records the headers
// it was sent.
type named struct {
	*httptest.Server
	headers chan http.Header
}

func newNamed(t *testing.T, name string) *named {
	n := &named{headers: make(chan http.Header, 100)}
	n.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case n.headers <- r.Header.Clone():
		default:
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(n.Close)
	return n
}

// runGateway serves cfg until the test ends.
func runGateway(t *testing.T, cfg frontdoor.Config) *frontdoor.Gateway {
	t.Helper()
	return testfleet.RunGateway(t, cfg, token)
}

// waitAnswer waits until the gateway at front answers for host.
func waitAnswer(t *testing.T, front string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered for %s: %v", front, host, err)
		}
	}
}

// serve sends one request straight into the gateway's handler with the
// given client address, as the front listener would.
func serve(gw *frontdoor.Gateway, remote string, headers map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
	req.RemoteAddr = remote
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, req)
	return rec
}

// TestPinRules: the pin header reaches a weight-0 backend only on a route
// that allows it, only with the pin secret (or from loopback, where the
// route also says pinFromLoopback: a sidecar or proxy on the same host
// connects from loopback for every user), only while that backend is
// healthy, and neither the pin nor the secret is passed on to a backend.
func TestPinRules(t *testing.T) {
	blue, green := newNamed(t, "blue"), newNamed(t, "green")
	secretFile := filepath.Join(t.TempDir(), "pin-secret")
	const secret = "pin-secret-0123456789abcdef"
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	routes := func(allow, fromLoopback bool) []frontdoor.Route {
		return []frontdoor.Route{{Host: host, AllowPin: allow, PinFromLoopback: fromLoopback, Backends: []frontdoor.Backend{
			{Name: "blue", URL: blue.URL, Weight: 100}, {Name: "green", URL: green.URL, Weight: 0}}}}
	}
	// 192.0.2.0/24 is documentation only: no packet is sent. 127.0.0.6 is
	// where Envoy sidecars connect from.
	const loopback, sidecar, remote = "127.0.0.1:40000", "127.0.0.6:40000", "192.0.2.7:40000"
	pin := map[string]string{frontdoor.PinHeader: "green"}
	pinWith := func(s string) map[string]string {
		return map[string]string{frontdoor.PinHeader: "green", frontdoor.PinSecretHeader: s}
	}
	gateway := func(allow, fromLoopback bool) *frontdoor.Gateway {
		gw, err := frontdoor.New(frontdoor.Config{Listen: "127.0.0.1:1", AdminListen: "127.0.0.1:2", PinSecretFile: secretFile, Routes: routes(allow, fromLoopback)}, token)
		if err != nil {
			t.Fatal(err)
		}
		return gw
	}
	closed, open, loopbackToo := gateway(false, false), gateway(true, false), gateway(true, true)
	for _, tc := range []struct {
		name    string
		gw      *frontdoor.Gateway
		remote  string
		headers map[string]string
		want    string
	}{
		{"route without allowPin, from loopback", closed, loopback, pin, "blue"},
		{"route without allowPin, with the secret", closed, remote, pinWith(secret), "blue"},
		{"allowPin, from loopback without the secret", open, loopback, pin, "blue"},
		{"allowPin, from a same-host sidecar without the secret", open, sidecar, pin, "blue"},
		{"allowPin, from loopback with the secret", open, loopback, pinWith(secret), "green"},
		{"allowPin, from afar without the secret", open, remote, pin, "blue"},
		{"allowPin, from afar with a wrong secret", open, remote, pinWith("wrong-secret-0123456789"), "blue"},
		{"allowPin, from afar with the secret", open, remote, pinWith(secret), "green"},
		{"allowPin and pinFromLoopback, from loopback", loopbackToo, loopback, pin, "green"},
		{"allowPin and pinFromLoopback, from afar without the secret", loopbackToo, remote, pin, "blue"},
		{"pinFromLoopback without allowPin", gateway(false, true), loopback, pin, "blue"},
		{"no pin", open, remote, nil, "blue"},
	} {
		rec := serve(tc.gw, tc.remote, tc.headers)
		if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("%s: %d %q, want 200 from %s", tc.name, rec.Code, rec.Body.String(), tc.want)
		}
	}
	// A header route the route's owner wrote (a Gateway API header match)
	// sends a request with that header and value to its backend, from
	// anywhere, without the secret; nothing else changes.
	hr := routes(false, false)
	hr[0].HeaderRoutes = []frontdoor.HeaderRoute{{Header: "X-Canary", Value: "always", Backend: "green"}}
	headerRouted, err := frontdoor.New(frontdoor.Config{Listen: "127.0.0.1:1", AdminListen: "127.0.0.1:2", Routes: hr}, token)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		headers map[string]string
		want    string
	}{
		{map[string]string{"X-Canary": "always"}, "green"},
		{map[string]string{"x-canary": "always"}, "green"},
		{map[string]string{"X-Canary": "sometimes"}, "blue"},
		{pin, "blue"},
		{nil, "blue"},
	} {
		if rec := serve(headerRouted, remote, tc.headers); rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("header route, headers %v: %d %q, want 200 from %s", tc.headers, rec.Code, rec.Body.String(), tc.want)
		}
	}
	hr[0].HeaderRoutes[0].Backend = "purple"
	if _, err := frontdoor.New(frontdoor.Config{Listen: "127.0.0.1:1", AdminListen: "127.0.0.1:2", Routes: hr}, token); err == nil || !strings.Contains(err.Error(), `backend "purple", which the route does not have`) {
		t.Errorf("a header route to a backend the route lacks: %v", err)
	}
	for _, b := range []*named{blue, green} {
		for len(b.headers) > 0 {
			h := <-b.headers
			if h.Get(frontdoor.PinHeader) != "" || h.Get(frontdoor.PinSecretHeader) != "" {
				t.Errorf("a backend was sent the pin headers: %v", h)
			}
		}
	}

	// An unhealthy backend is never reached by a pin: green dies, its
	// health check fails, and a pinned request gets 503 naming it.
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t),
		HealthInterval: frontdoor.Duration{Duration: 20 * time.Millisecond}, Routes: routes(true, true)}
	gw := runGateway(t, cfg)
	waitAnswer(t, "http://"+cfg.Listen)
	green.Close()
	deadline := time.Now().Add(30 * time.Second)
	for testfleet.Scrape(t, "http://"+cfg.AdminListen+"/metrics", token).Sum("upshift_gateway_backend_healthy", map[string]string{"backend": "green"}) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the gateway never saw green die")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec := serve(gw, loopback, pin)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `no healthy backend "green"`) {
		t.Errorf("pin to an unhealthy backend: %d %q, want 503 naming it", rec.Code, rec.Body.String())
	}
	m := testfleet.Scrape(t, "http://"+cfg.AdminListen+"/metrics", token)
	if m.Sum("upshift_gateway_requests_total", map[string]string{"backend": "green"}) != 0 {
		t.Error("a request reached the unhealthy green")
	}
}

// writePair issues a serving certificate for 127.0.0.1 into dir.
func writePair(t *testing.T, ca *pki.CA, dir, name string) frontdoor.TLSFiles {
	t.Helper()
	cert, key, err := ca.Issue(pki.Request{CommonName: name, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	f := frontdoor.TLSFiles{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	if err := os.WriteFile(f.CertFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.KeyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTLS: both listeners speak TLS, a reload picks up a renewed pair for
// new connections, a broken renewal keeps the pair in use, and an admin
// listener off loopback without TLS is refused.
func TestTLS(t *testing.T) {
	backend := newNamed(t, "blue")
	ca, err := pki.NewCA("gateway-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := writePair(t, ca, dir, "first")
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), TLS: &files, AdminTLS: &files,
		Routes: []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{{Name: "blue", URL: backend.URL, Weight: 100}}}}}
	gw := runGateway(t, cfg)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	// servedName opens a new connection and returns the certificate's name.
	servedName := func(addr string) string {
		t.Helper()
		var conn *tls.Conn
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("TLS to %s: %v", addr, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := servedName(cfg.Listen); got != "first" {
		t.Fatalf("front serves %q", got)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+cfg.Listen+"/", nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "blue" {
		t.Errorf("HTTPS request: %d %q", resp.StatusCode, body)
	}
	areq, _ := http.NewRequest(http.MethodGet, "https://"+cfg.AdminListen+"/routes/"+host+"/weights", nil)
	areq.Header.Set("Authorization", "Bearer "+token)
	if resp, err := client.Do(areq); err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin over HTTPS: %v %v", resp, err)
	}

	writePair(t, ca, dir, "renewed")
	if err := gw.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{cfg.Listen, cfg.AdminListen} {
		if got := servedName(addr); got != "renewed" {
			t.Errorf("%s after reload serves %q, want renewed", addr, got)
		}
	}
	if err := os.WriteFile(files.KeyFile, []byte("half-copied"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gw.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "kept") {
		t.Errorf("a broken renewal: %v, want an error saying the pair in use is kept", err)
	}
	if got := servedName(cfg.Listen); got != "renewed" {
		t.Errorf("after a broken renewal the front serves %q", got)
	}

	for _, addr := range []string{"0.0.0.0:9090", ":9090", "192.0.2.1:9090"} {
		bad := frontdoor.Config{Listen: "127.0.0.1:1", AdminListen: addr}
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "adminTLS") {
			t.Errorf("admin on %s without TLS: %v", addr, err)
		}
	}
}

// TestTimeouts: a client that never finishes its headers is cut off, and
// a backend that never answers gets a 502 rather than a hung request.
func TestTimeouts(t *testing.T) {
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer stuck.Close()
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t),
		Timeouts: frontdoor.Timeouts{ReadHeader: frontdoor.Duration{Duration: 200 * time.Millisecond}, BackendResponseHeader: frontdoor.Duration{Duration: 200 * time.Millisecond}},
		Routes:   []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{{Name: "stuck", URL: stuck.URL, Weight: 100}}}}}
	runGateway(t, cfg)
	var err error
	var conn net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if conn, err = net.Dial("tcp", cfg.Listen); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+host+"\r\nX-Slow: ") // never finished
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadAll(conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a client that never finished its headers was kept: %v", err)
	}
	code, _ := get(t, "http://"+cfg.Listen, host, nil)
	if code != http.StatusBadGateway {
		t.Errorf("a backend that never answers: %d, want 502", code)
	}
}

// TestMetricsListener: a scraper reads /metrics without a token on its
// own listener, and that listener can change nothing.
func TestMetricsListener(t *testing.T) {
	backend := newNamed(t, "blue")
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), MetricsListen: testfleet.LoopbackAddr(t),
		Routes: []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{{Name: "blue", URL: backend.URL, Weight: 100}}}}}
	runGateway(t, cfg)
	waitAnswer(t, "http://"+cfg.Listen)
	m := testfleet.Scrape(t, "http://"+cfg.MetricsListen+"/metrics", "")
	if m.Sum("upshift_gateway_requests_total", map[string]string{"backend": "blue"}) == 0 {
		t.Error("the metrics listener shows no request")
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+cfg.MetricsListen+"/routes/"+host+"/weights", strings.NewReader(`{"blue":100}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("the metrics listener accepted a weight change: %d", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + cfg.AdminListen + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin /metrics without the token: %v %v", resp, err)
	}
}

// TestCorruptStateFile: a state file that cannot be used stops the
// gateway with one line naming --reset-state; with it the file is set
// aside and the configuration's routes are served. The file is written
// 0600 with no temporary file left behind.
func TestCorruptStateFile(t *testing.T) {
	backend := newNamed(t, "blue")
	dir := t.TempDir()
	state := filepath.Join(dir, "routes.json")
	cfg := frontdoor.Config{Listen: "127.0.0.1:1", AdminListen: "127.0.0.1:2", StateFile: state,
		Routes: []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{{Name: "blue", URL: backend.URL, Weight: 100}}}}}
	for _, bad := range []string{"{not json", "null", "", `[{"host":"../x","backends":[]}]`, `[{"host":"a.example","backends":[{"name":"b","url":"http://127.0.0.1:1","weight":50}]}]`} {
		if err := os.WriteFile(state, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := frontdoor.New(cfg, token)
		if !errors.Is(err, frontdoor.ErrCorruptState) || !strings.Contains(err.Error(), "--reset-state") || strings.Contains(err.Error(), "\n") {
			t.Errorf("state %q: %v, want one line naming --reset-state", bad, err)
		}
	}
	reset := cfg
	reset.ResetState = true
	gw, err := frontdoor.New(reset, token)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := gw.Weights(host); err != nil || w.String() != "blue=100" {
		t.Errorf("after --reset-state: %v %v", w, err)
	}
	aside, _ := filepath.Glob(state + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("the corrupt file was not kept aside: %v", aside)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file after the reset: %v %v, want written 0600", fi, err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// TestDeleteRoute: a route can be removed through the admin API and the
// CLI: its host and aliases get 404, the state file forgets it (a restart
// does not bring it back), an alias or an unknown host is refused as bad
// input (exit 2), and so is a switch naming a backend the route lacks.
func TestDeleteRoute(t *testing.T) {
	blue := newNamed(t, "blue")
	dir := t.TempDir()
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), HealthInterval: frontdoor.Duration{Duration: time.Hour},
		StateFile: filepath.Join(dir, "routes.json"),
		Routes: []frontdoor.Route{
			{Host: host, Aliases: []string{"www." + host}, Backends: []frontdoor.Backend{{Name: "blue", URL: blue.URL, Weight: 100}}},
			{Host: "kept.example", Backends: []frontdoor.Backend{{Name: "blue", URL: blue.URL, Weight: 100}}},
		}}
	runGateway(t, cfg)
	front := "http://" + cfg.Listen
	waitAnswer(t, front)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (int, string) {
		return testfleet.RunCLI(t, append([]string{"traffic"}, append(args, "--gateway", "http://"+cfg.AdminListen, "--token-file", tokenFile)...)...)
	}
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"set", "--route", host, "blue=50,green=50"}, 2, `has no backend "green"`},
		{[]string{"delete", "--route", "www." + host}, 2, "is an alias of route " + host},
		{[]string{"delete", "--route", "nowhere.example"}, 2, "no route"},
		{[]string{"delete", "--route", host}, 0, "route " + host + " removed"},
		{[]string{"get", "--route", host}, 2, "no route"},
	} {
		if code, out := cli(tc.args...); code != tc.code || !strings.Contains(out, tc.says) {
			t.Errorf("upshift traffic %v: exit %d, want %d saying %q:\n%s", tc.args, code, tc.code, tc.says, out)
		}
	}
	for _, h := range []string{host, "www." + host} {
		if code, _ := get(t, front, h, nil); code != http.StatusNotFound {
			t.Errorf("%s after the delete: %d, want 404", h, code)
		}
	}
	if code, _ := get(t, front, "kept.example", nil); code != http.StatusOK {
		t.Errorf("the other route after the delete: %d", code)
	}
	state, err := os.ReadFile(cfg.StateFile)
	if err != nil || strings.Contains(string(state), `"`+host+`"`) || !strings.Contains(string(state), "kept.example") {
		t.Errorf("state file after the delete (%v):\n%s", err, state)
	}
}
