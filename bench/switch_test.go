package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/providers/traffic"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/testfleet"
)

// BenchmarkTrafficSwitch measures a blue-green switch through the gateway
// provider while 4 clients keep sending requests: the switch call (admin
// API PUT plus the read-back that verifies it) as ns/op, and the time from
// the call's start until the first answer from the new side as
// ms-to-first-new. Any failed request fails the benchmark.
func BenchmarkTrafficSwitch(b *testing.B) {
	ctx := context.Background()
	backend := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
		b.Cleanup(s.Close)
		return s
	}
	blue, green := backend(), backend()
	const host, token = "app.example", "bench-admin-token-0123456789"
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(b), AdminListen: testfleet.LoopbackAddr(b), Routes: []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{
		{Name: "blue", URL: blue.URL, Weight: 100}, {Name: "green", URL: green.URL, Weight: 0},
	}}}}
	gw, err := frontdoor.New(cfg, token)
	if err != nil {
		b.Fatal(err)
	}
	gwCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = gw.Run(gwCtx) }()
	front := "http://" + cfg.Listen
	p := trafficgateway.New("http://"+cfg.AdminListen, token)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := p.Weights(ctx, host); err == nil {
			break
		} else if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	load := loadgen.Start(ctx, loadgen.Target{URL: front + "/", Host: host}, 4, 0)
	var toFirst time.Duration
	sides := []string{"green", "blue"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		to := sides[i%2]
		from := sides[(i+1)%2]
		before := load.Snapshot().ByServer[to]
		start := time.Now()
		if err := p.Switch(ctx, host, traffic.Weights{to: 100, from: 0}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for load.Snapshot().ByServer[to] == before {
			time.Sleep(100 * time.Microsecond)
		}
		toFirst += time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	stats := load.Stop()
	if stats.Failed != 0 {
		b.Fatalf("%d of %d requests failed across %d switches: %v", stats.Failed, stats.Sent, b.N, stats.Errors)
	}
	b.ReportMetric(float64(toFirst.Microseconds())/1000/float64(b.N), "ms-to-first-new")
	b.ReportMetric(float64(stats.Sent), "requests")
}
