package cli

import (
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"upshift.dev/upshift/internal/runmetrics"
	"upshift.dev/upshift/internal/store"
)

// serveMetrics serves /metrics for the store's runs (and this process's
// own Go and process metrics) on addr until stop is called.
func serveMetrics(addr string, st store.Runs) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&runmetrics.Collector{Runs: st.List}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("--metrics-listen %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return func() { _ = srv.Close(); <-done }, nil
}
