package bench

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// BenchmarkGateway sends the same load (8 concurrent clients, keep-alive)
// to a cluster's ingress directly and through the gateway, in one run; the
// difference of ns/op is the gateway's cost per request.
func BenchmarkGateway(b *testing.B) {
	ctx := context.Background()
	fleet := testfleet.Fleet(b)
	c, err := fleet.Up(ctx, localfleet.Spec{Name: "gw-bench", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = fleet.Down("gw-bench") }()
	client, _ := c.Client()
	app := sampleapp.App{Namespace: "shop", Name: "web", Host: "web.example", Replicas: 2}
	if err := app.Deploy(ctx, client); err != nil {
		b.Fatal(err)
	}
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		b.Fatal(err)
	}
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(b), AdminListen: testfleet.LoopbackAddr(b), Routes: []frontdoor.Route{{Host: app.Host, Backends: []frontdoor.Backend{{Name: "only", URL: c.IngressURL(), Weight: 100}}}}}
	gw, err := frontdoor.New(cfg, "bench-admin-token-0123456789")
	if err != nil {
		b.Fatal(err)
	}
	gwCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = gw.Run(gwCtx) }()
	for name, base := range map[string]string{"direct": c.IngressURL(), "gateway": "http://" + cfg.Listen} {
		if _, err := ingress.WaitServed(ctx, base, app.Host, 1, time.Minute); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			hc := &http.Client{Transport: tr}
			b.SetParallelism(4) // 8 clients on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
					req.Host = app.Host
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
