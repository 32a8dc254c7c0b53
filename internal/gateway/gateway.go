package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"upshift.dev/upshift/internal/providers/traffic"
)

// Headers and cookies of the gateway.
const (
	// PinHeader names the backend a request must go to, for testing.
	PinHeader = "X-Upshift-Backend"
	// BackendHeader on responses names the backend that served.
	BackendHeader  = "X-Upshift-Served-By"
	affinityCookie = "upshift-backend"
	// StatusClientClosed is recorded for requests their client abandoned.
	StatusClientClosed = 499
	maxAttempts        = 3
)

type backend struct {
	name      string
	url       *url.URL
	health    string
	transport *http.Transport

	healthy atomic.Bool
}

type route struct {
	host     string
	affinity bool
	backends []*backend
	// weights is replaced whole on a switch, never edited in place: a
	// request sees the old weights or the new ones, never a mix in which
	// every backend has none.
	weights atomic.Pointer[traffic.Weights]
}

func (rt *route) weightsNow() traffic.Weights { return *rt.weights.Load() }

// Gateway is a running front door.
type Gateway struct {
	cfg    Config
	token  string
	routes map[string]*route

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	healthy  *prometheus.GaugeVec
	checks   *prometheus.CounterVec
	weights  *prometheus.GaugeVec
	registry *prometheus.Registry
}

// New builds a gateway from a valid configuration and its admin token.
func New(cfg Config, adminToken string) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(adminToken) < 16 {
		return nil, errors.New("the admin token must be at least 16 characters")
	}
	if cfg.HealthInterval.Duration == 0 {
		cfg.HealthInterval.Duration = time.Second
	}
	g := &Gateway{cfg: cfg, token: adminToken, routes: map[string]*route{}, registry: prometheus.NewRegistry()}
	g.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "upshift_gateway_requests_total", Help: "Requests answered, by host, backend and status code."}, []string{"host", "backend", "code"})
	g.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "upshift_gateway_request_duration_seconds", Help: "Time to answer, by host and backend.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"host", "backend"})
	g.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "upshift_gateway_retries_total", Help: "Requests retried on another backend after a refused connection."}, []string{"host", "backend"})
	g.healthy = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "upshift_gateway_backend_healthy", Help: "1 when the backend passes its health checks."}, []string{"host", "backend"})
	g.weights = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "upshift_gateway_backend_weight", Help: "The backend's share of the route, in percent."}, []string{"host", "backend"})
	g.checks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "upshift_gateway_health_checks_total", Help: "Health checks that got an answer, by host and backend."}, []string{"host", "backend"})
	g.registry.MustRegister(g.requests, g.duration, g.retries, g.healthy, g.checks, g.weights)
	for _, rc := range cfg.Routes {
		r := &route{host: rc.Host, affinity: rc.Affinity}
		initial := traffic.Weights{}
		for _, bc := range rc.Backends {
			initial[bc.Name] = bc.Weight
			u, _ := url.Parse(bc.URL)
			hp := bc.HealthPath
			if hp == "" {
				hp = "/"
			}
			b := &backend{name: bc.Name, url: u, health: hp,
				transport: &http.Transport{
					DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
					MaxIdleConnsPerHost: 256,
					IdleConnTimeout:     30 * time.Second,
				}}
			b.healthy.Store(true)
			r.backends = append(r.backends, b)
			g.weights.WithLabelValues(r.host, b.name).Set(float64(bc.Weight))
			g.healthy.WithLabelValues(r.host, b.name).Set(1)
		}
		r.weights.Store(&initial)
		g.routes[rc.Host] = r
	}
	return g, nil
}

// Run serves users and the admin API until ctx ends, then drains.
func (g *Gateway) Run(ctx context.Context) error {
	front := &http.Server{Addr: g.cfg.Listen, Handler: g, ReadHeaderTimeout: 10 * time.Second}
	admin := &http.Server{Addr: g.cfg.AdminListen, Handler: g.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	fl, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway listen %s: %w", g.cfg.Listen, err)
	}
	al, err := net.Listen("tcp", g.cfg.AdminListen)
	if err != nil {
		fl.Close()
		return fmt.Errorf("gateway admin listen %s: %w", g.cfg.AdminListen, err)
	}
	go g.healthLoop(ctx)
	errc := make(chan error, 2)
	go func() { errc <- front.Serve(fl) }()
	go func() { errc <- admin.Serve(al) }()
	slog.Info("gateway serving", "listen", g.cfg.Listen, "admin", g.cfg.AdminListen, "routes", len(g.routes))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = admin.Shutdown(shutdown)
	return front.Shutdown(shutdown)
}

// ServeHTTP proxies a user's request to a backend of its host's route.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	rt := g.routes[host]
	if rt == nil {
		http.Error(w, fmt.Sprintf("no route for host %q", host), http.StatusNotFound)
		return
	}
	start := time.Now()
	tried := map[string]bool{}
	pinned := r.Header.Get(PinHeader)
	idempotent := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions || r.Body == nil || r.ContentLength == 0
	for attempt := 1; ; attempt++ {
		b := g.pick(rt, r, pinned, tried)
		if b == nil {
			g.requests.WithLabelValues(host, "none", "503").Inc()
			msg := fmt.Sprintf("no healthy backend for host %q", host)
			if pinned != "" && !tried[pinned] {
				msg = fmt.Sprintf("host %q has no backend %q (%s names one)", host, pinned, PinHeader)
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		tried[b.name] = true
		refused := false
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(b.url)
				pr.Out.Host = r.Host // the clusters' ingresses route by the user's host
				pr.SetXForwarded()
			},
			Transport: b.transport,
			ModifyResponse: func(resp *http.Response) error {
				resp.Header.Set(BackendHeader, b.name)
				if rt.affinity {
					resp.Header.Add("Set-Cookie", (&http.Cookie{Name: affinityCookie, Value: b.name, Path: "/", HttpOnly: true}).String())
				}
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				if errors.Is(err, syscall.ECONNREFUSED) && idempotent && attempt < maxAttempts && pinned == "" {
					refused = true // nothing was written: try another backend
					return
				}
				if r.Context().Err() != nil {
					// The client went away; record it as proxies do (499),
					// not as a backend failure.
					w.WriteHeader(StatusClientClosed)
					return
				}
				http.Error(w, "backend "+b.name+": "+err.Error(), http.StatusBadGateway)
			},
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		if refused {
			g.retries.WithLabelValues(host, b.name).Inc()
			g.markUnhealthy(rt, b)
			continue
		}
		g.requests.WithLabelValues(host, b.name, fmt.Sprint(rec.code)).Inc()
		g.duration.WithLabelValues(host, b.name).Observe(time.Since(start).Seconds())
		return
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// pick chooses a backend: the pinned one, the affinity cookie's while it is
// healthy and weighted, else a weighted random choice among healthy ones.
func (g *Gateway) pick(rt *route, r *http.Request, pinned string, tried map[string]bool) *backend {
	if pinned != "" {
		for _, b := range rt.backends {
			if b.name == pinned && !tried[b.name] {
				return b
			}
		}
		return nil
	}
	weights := rt.weightsNow()
	if rt.affinity {
		if c, err := r.Cookie(affinityCookie); err == nil {
			for _, b := range rt.backends {
				if b.name == c.Value && weights[b.name] > 0 && b.healthy.Load() && !tried[b.name] {
					return b
				}
			}
		}
	}
	total := 0
	var candidates []*backend
	for _, b := range rt.backends {
		if weights[b.name] > 0 && b.healthy.Load() && !tried[b.name] {
			candidates = append(candidates, b)
			total += weights[b.name]
		}
	}
	if total == 0 {
		// Nothing healthy with weight: fall back to any weighted backend
		// not tried yet rather than refuse outright.
		for _, b := range rt.backends {
			if weights[b.name] > 0 && !tried[b.name] {
				return b
			}
		}
		return nil
	}
	n := rand.IntN(total)
	for _, b := range candidates {
		if n < weights[b.name] {
			return b
		}
		n -= weights[b.name]
	}
	return candidates[len(candidates)-1]
}

func (g *Gateway) markUnhealthy(rt *route, b *backend) {
	b.healthy.Store(false)
	g.healthy.WithLabelValues(rt.host, b.name).Set(0)
}

// healthLoop checks every backend with its route's Host header.
func (g *Gateway) healthLoop(ctx context.Context) {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		for _, rt := range g.routes {
			for _, b := range rt.backends {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url.String()+b.health, nil)
				if err != nil {
					continue
				}
				req.Host = rt.host
				req.Header.Set("User-Agent", "upshift-gateway-health")
				resp, err := client.Do(req)
				ok := err == nil && resp.StatusCode < 500
				if resp != nil {
					resp.Body.Close()
					g.checks.WithLabelValues(rt.host, b.name).Inc()
				}
				b.healthy.Store(ok)
				v := 0.0
				if ok {
					v = 1
				}
				g.healthy.WithLabelValues(rt.host, b.name).Set(v)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(g.cfg.HealthInterval.Duration):
		}
	}
}

// Weights returns a route's weights.
func (g *Gateway) Weights(host string) (traffic.Weights, error) {
	rt := g.routes[host]
	if rt == nil {
		return nil, fmt.Errorf("no route for host %q", host)
	}
	return maps.Clone(rt.weightsNow()), nil
}

// SetWeights changes a route's weights; requests in flight finish where
// they are, new ones follow the new weights, and idle connections to
// backends that lost all their weight are closed.
func (g *Gateway) SetWeights(host string, w traffic.Weights) error {
	rt := g.routes[host]
	if rt == nil {
		return fmt.Errorf("no route for host %q", host)
	}
	if err := w.Validate(); err != nil {
		return err
	}
	names := map[string]bool{}
	for _, b := range rt.backends {
		names[b.name] = true
	}
	for name := range w {
		if !names[name] {
			return fmt.Errorf("route %s has no backend %q (it has %s)", host, name, strings.Join(sortedKeys(names), ", "))
		}
	}
	next := traffic.Weights{}
	for _, b := range rt.backends {
		next[b.name] = w[b.name]
	}
	rt.weights.Store(&next)
	for _, b := range rt.backends {
		g.weights.WithLabelValues(host, b.name).Set(float64(next[b.name]))
		if next[b.name] == 0 {
			b.transport.CloseIdleConnections()
		}
	}
	slog.Info("gateway weights changed", "host", host, "weights", w.String())
	return nil
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// adminHandler serves GET/PUT /routes/{host}/weights and /metrics, all
// behind the bearer token.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /routes/{host}/weights", func(w http.ResponseWriter, r *http.Request) {
		weights, err := g.Weights(r.PathValue("host"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(weights)
	})
	mux.HandleFunc("PUT /routes/{host}/weights", func(w http.ResponseWriter, r *http.Request) {
		var weights traffic.Weights
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&weights); err != nil {
			http.Error(w, "body must be a JSON object of backend weights: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := g.SetWeights(r.PathValue("host"), weights); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(g.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="upshift-gateway"`)
			http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
