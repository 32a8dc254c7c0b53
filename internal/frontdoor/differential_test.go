package frontdoor_test

import (
	"flag"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/proxyprobe"
	"upshift.dev/upshift/internal/testfleet"
)

var probeSeed = flag.Uint64("probe-seed", 0, "seed of TestRandomExchanges (0: a new one, printed)")

// proxies starts the probe's backend with HAProxy (Debian's) and the
// gateway in front of it, and returns a probe for each.
func proxies(t *testing.T) (gateway, haproxy *proxyprobe.Probe, backend *proxyprobe.Backend) {
	t.Helper()
	backend, err := proxyprobe.StartBackend()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	haAddr := testfleet.HAProxy(t, backend.Addr)

	gw := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), HealthInterval: frontdoor.Duration{Duration: time.Hour},
		Routes: []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{{Name: "only", URL: "http://" + backend.Addr, Weight: 100}}}}}
	runGateway(t, gw)
	gateway = &proxyprobe.Probe{Addr: gw.Listen, Host: host, Prefix: "g"}
	haproxy = &proxyprobe.Probe{Addr: haAddr, Host: host, Prefix: "h"}
	for _, p := range []*proxyprobe.Probe{gateway, haproxy} {
		waitAnswer(t, "http://"+p.Addr)
	}
	return gateway, haproxy, backend
}

// knownDifferences are the exchanges the gateway answers otherwise than
// HAProxy: each is safe (no answer crosses, the next client is served)
// and explained. Anything else that differs fails the test.
var knownDifferences = map[string]struct{ gateway, haproxy, why string }{
	"backend-cuts-mid-answer": {"none", "200-truncated", "a backend that dies mid-answer: the gateway closes the client's connection " +
		"before the headers leave it (net/http's reverse proxy aborts the answer), HAProxy sends the headers and the part it got, then closes; " +
		"either way the client sees a failed answer, never a whole one"},
	"oversize-header": {"431", "400", "a request head over the limit (the gateway's 64 KiB, HAProxy's buffer of about 15 KiB): " +
		"refused by both, with 431 Request Header Fields Too Large by the gateway"},
	"cl-te-smuggling": {"200,200", "200", clTE},
	"te-cl-smuggling": {"200,200", "200", clTE},
}

const clTE = "a request with both Content-Length and Transfer-Encoding: chunked: both frame it by its chunks (RFC 9112 6.3), " +
	"and the request after the chunks is the client's own next request; HAProxy answers the first and closes the connection, " +
	"the gateway (net/http's server, which drops the Content-Length before the handler sees it) answers both in order, and " +
	"re-frames what it forwards, so its backend connection cannot be desynchronised"

// TestDifferentialAgainstHAProxy runs the probe's matrix of raw
// exchanges through the gateway and through HAProxy, both in front of
// the same backend. Through either, no answer may go to another request,
// and the next client must get its own. The gateway must answer as
// HAProxy does, but for the differences documented in knownDifferences.
func TestDifferentialAgainstHAProxy(t *testing.T) {
	gateway, haproxy, _ := proxies(t)
	for _, ex := range proxyprobe.Matrix() {
		t.Run(ex.Name, func(t *testing.T) {
			g, err := gateway.Run(ex)
			if err != nil {
				t.Fatal(err)
			}
			h, err := haproxy.Run(ex)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("gateway %-12s same %-5s next %-5s %+v", g.Summary(), g.Same, g.New, g.Results)
			t.Logf("haproxy %-12s same %-5s next %-5s %+v", h.Summary(), h.Same, h.New, h.Results)
			for _, c := range g.Crossed() {
				t.Errorf("through the gateway, %s", c)
			}
			for _, c := range h.Crossed() {
				t.Errorf("through HAProxy (the probe is wrong?), %s", c)
			}
			for name, o := range map[string]proxyprobe.Outcome{"the gateway": g, "HAProxy": h} {
				if o.Same.Status != 0 && (o.Same.Status != 200 || o.Same.Echo != o.Same.ID) {
					t.Errorf("through %s, the next request on the same connection got %v, not its own 200", name, o.Same)
				}
			}
			if !g.NextServed() {
				t.Errorf("through the gateway, the next client got %v, not its own 200", g.New)
			}
			if !h.NextServed() {
				t.Errorf("through HAProxy, the next client got %v, not its own 200", h.New)
			}
			if g.Summary() == h.Summary() {
				return
			}
			if d, ok := knownDifferences[ex.Name]; ok && d.gateway == g.Summary() && d.haproxy == h.Summary() {
				t.Logf("a known difference: %s", d.why)
				return
			}
			t.Errorf("the gateway answered %s where HAProxy answered %s", g.Summary(), h.Summary())
		})
	}
}

// TestRandomExchanges: clients on kept-alive connections run random
// sequences of the matrix's exchanges at once, through the gateway (and,
// as the oracle, HAProxy). Not one answer may be crossed. A failure
// prints the seed; -probe-seed replays it.
func TestRandomExchanges(t *testing.T) {
	gateway, haproxy, _ := proxies(t)
	seed := *probeSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -probe-seed %d)", seed, seed)
	var exchanges []proxyprobe.Exchange
	for _, ex := range proxyprobe.Matrix() {
		if !strings.Contains(ex.Name, "slow") {
			exchanges = append(exchanges, ex)
		}
	}
	for name, p := range map[string]*proxyprobe.Probe{"gateway": gateway, "HAProxy": haproxy} {
		outs, err := p.Random(seed, 8, 60, exchanges)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		answers, crossed := 0, 0
		for _, o := range outs {
			for _, r := range o.Results {
				if r.Echo != "" {
					answers++
				}
			}
			for _, c := range o.Crossed() {
				crossed++
				if crossed <= 10 {
					t.Errorf("through %s, %s", name, c)
				}
			}
		}
		t.Logf("%s: %d exchanges, %d answers from the backend, %d crossed", name, len(outs), answers, crossed)
		if crossed > 0 {
			t.Errorf("through %s, %d answers went to another request (seed %d)", name, crossed, seed)
		}
	}
}
