package bench

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/testfleet"
)

// BenchmarkGatewayVsHAProxy puts the same loopback backend (a tiny Go
// HTTP server) behind HAProxy (Debian's) and behind upshift's gateway
// (`upshift gateway`, its own process), and drives each with the same wrk
// load: 2 threads, 16 connections, 8 s, alternating over rounds. It
// reports each side's requests/s and p99 and the gateway's ratios against
// the goals (≥ 80% of HAProxy's throughput, p99 ≤ 1.5× HAProxy's). It
// needs haproxy and wrk on PATH: `make bench` installs them.
func BenchmarkGatewayVsHAProxy(b *testing.B) {
	for _, tool := range []string{"haproxy", "wrk"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s is not installed (make bench-deps installs it): %v", tool, err)
		}
	}
	dir := b.TempDir()
	backend := startBackend(b)

	haAddr := testfleet.HAProxy(b, backend)

	gwCfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(b), AdminListen: testfleet.LoopbackAddr(b), AdminTokenFile: filepath.Join(dir, "token"),
		Routes: []frontdoor.Route{{Host: "web.example", Backends: []frontdoor.Backend{{Name: "only", URL: "http://" + backend, Weight: 100}}}}}
	write(b, gwCfg.AdminTokenFile, "bench-admin-token-0123456789\n")
	data, err := yaml.Marshal(gwCfg)
	if err != nil {
		b.Fatal(err)
	}
	write(b, filepath.Join(dir, "gateway.yaml"), string(data))
	gw := testfleet.CLI("gateway", "--config", filepath.Join(dir, "gateway.yaml"))
	gw.Stderr = os.Stderr
	if extra := os.Getenv("BENCH_GATEWAY_ENV"); extra != "" {
		gw.Env = append(gw.Env, strings.Fields(extra)...)
	}
	if err := gw.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = gw.Process.Kill(); _ = gw.Wait() }()

	targets := []struct{ name, url string }{
		{"direct", "http://" + backend + "/"},
		{"haproxy", "http://" + haAddr + "/"},
		{"gateway", "http://" + gwCfg.Listen + "/"},
	}
	for _, t := range targets {
		waitUp(b, t.url)
	}
	const rounds = 3
	results := map[string][]wrkResult{}
	for range b.N {
		for round := range rounds {
			for _, t := range targets {
				r := runWrk(b, t.url, 8*time.Second)
				b.Logf("round %d %-8s %8.0f req/s  p50 %-8s p99 %s", round+1, t.name, r.rps, r.p50, r.p99)
				results[t.name] = append(results[t.name], r)
			}
		}
	}
	best := func(name string) wrkResult {
		rs := results[name]
		return slices.MaxFunc(rs, func(x, y wrkResult) int { return int(x.rps - y.rps) })
	}
	direct, ha0, gw0 := best("direct"), best("haproxy"), best("gateway")
	ratio, p99 := gw0.rps/ha0.rps, float64(gw0.p99)/float64(ha0.p99)
	b.Logf("best of %d rounds: direct %.0f req/s; HAProxy %.0f req/s p99 %s; gateway %.0f req/s p99 %s", rounds, direct.rps, ha0.rps, ha0.p99, gw0.rps, gw0.p99)
	b.Logf("gateway/HAProxy throughput %.2f (goal ≥ 0.80: %s); p99 %.2f× HAProxy's (goal ≤ 1.50: %s)", ratio, met(ratio >= 0.8), p99, met(p99 <= 1.5))
	b.ReportMetric(gw0.rps, "gateway-req/s")
	b.ReportMetric(ha0.rps, "haproxy-req/s")
	b.ReportMetric(ratio, "throughput-ratio")
	b.ReportMetric(p99, "p99-ratio")
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// startBackend serves a tiny answer on loopback, as the baseline
// did, for the benchmark's life.
func startBackend(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello from the backend\n"))
	})}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func write(b *testing.B, path, data string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		b.Fatal(err)
	}
}

func waitUp(b *testing.B, url string) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = "web.example"
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s does not answer 200: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPercent = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

// runWrk drives url with wrk: 2 threads, 16 connections, with the
// gateway's host name.
func runWrk(b *testing.B, url string, d time.Duration) wrkResult {
	b.Helper()
	out, err := exec.CommandContext(context.Background(), "wrk", "-t2", "-c16", "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", "-H", "Host: web.example", url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		b.Fatalf("wrk %s saw errors:\n%s", url, out)
	}
	var r wrkResult
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		b.Fatalf("wrk printed no Requests/sec:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, p := range wrkPercent.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(p[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(p[3])]
		dur := time.Duration(v * float64(unit))
		if string(p[1]) == "50" {
			r.p50 = dur
		} else {
			r.p99 = dur
		}
	}
	return r
}
