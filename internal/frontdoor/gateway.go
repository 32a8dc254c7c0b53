package frontdoor

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	// MaxHeaderBytes bounds a request's line and headers; a longer one
	// is refused (431) rather than carried to a backend. HAProxy's
	// default buffer refuses past about 15 KiB.
	MaxHeaderBytes = 64 << 10
)

type backend struct {
	spec      Backend
	name      string
	url       *url.URL
	health    string
	transport *http.Transport

	healthy atomic.Bool
}

type route struct {
	host string
	// state is replaced whole on a switch or an edit, never changed in
	// place: a request sees the old backends, weights and options or the
	// new ones, never a mix in which every backend has none.
	state atomic.Pointer[routeState]
}

type routeState struct {
	backends []*binding
	weights  traffic.Weights
	spec     Route
}

// binding is a backend as one route state serves it: its weight, and the
// reverse proxy and metrics made once when the route is applied rather
// than for every request.
type binding struct {
	*backend
	weight int
	proxy  *httputil.ReverseProxy
	served prometheus.Counter  // answers with 200
	took   prometheus.Observer // time to answer
}

// bufferPool lends the proxies their copy buffers.
var bufferPool = &buffers{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type buffers struct{ pool sync.Pool }

func (b *buffers) Get() []byte  { return *b.pool.Get().(*[]byte) }
func (b *buffers) Put(p []byte) { b.pool.Put(&p) }

func (rt *route) now() *routeState { return rt.state.Load() }

// Gateway is a running front door.
type Gateway struct {
	cfg       Config
	token     string
	pinSecret string
	frontCert *certificate
	adminCert *certificate
	// routes maps every host and alias to its route; the map is replaced
	// whole when a route is added (copy on write), so requests never lock.
	routes atomic.Pointer[map[string]*route]
	mu     sync.Mutex // serializes route edits

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	healthy  *prometheus.GaugeVec
	checks   *prometheus.CounterVec
	weights  *prometheus.GaugeVec
	// pinsIgnored counts pin headers that did not count: the route does
	// not allow pinning, or the request had no right to pin.
	pinsIgnored *prometheus.CounterVec
	registry    *prometheus.Registry
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
	cfg.Timeouts = cfg.Timeouts.withDefaults()
	g := &Gateway{cfg: cfg, token: adminToken, registry: prometheus.NewRegistry()}
	if cfg.PinSecretFile != "" {
		secret, err := os.ReadFile(cfg.PinSecretFile)
		if err != nil {
			return nil, fmt.Errorf("reading the pin secret: %w", err)
		}
		if g.pinSecret = strings.TrimSpace(string(secret)); len(g.pinSecret) < 16 {
			return nil, fmt.Errorf("the pin secret in %s must be at least 16 characters", cfg.PinSecretFile)
		}
	}
	var err error
	if g.frontCert, err = loadCertificate("tls", cfg.TLS); err != nil {
		return nil, err
	}
	if g.adminCert, err = loadCertificate("adminTLS", cfg.AdminTLS); err != nil {
		return nil, err
	}
	g.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "upshift_gateway_requests_total", Help: "Requests answered, by host, backend and status code."}, []string{"host", "backend", "code"})
	g.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "upshift_gateway_request_duration_seconds", Help: "Time to answer, by host and backend.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"host", "backend"})
	g.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "upshift_gateway_retries_total", Help: "Requests retried on another backend after a refused connection."}, []string{"host", "backend"})
	g.healthy = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "upshift_gateway_backend_healthy", Help: "1 when the backend passes its health checks."}, []string{"host", "backend"})
	g.weights = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "upshift_gateway_backend_weight", Help: "The backend's share of the route, in percent."}, []string{"host", "backend"})
	g.checks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "upshift_gateway_health_checks_total", Help: "Health checks sent, by host, backend and result: answered, or failed (no answer: refused, timed out or cut, so it may or may not have reached the backend)."}, []string{"host", "backend", "result"})
	g.pinsIgnored = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "upshift_gateway_pins_ignored_total", Help: "Pin headers ignored: the route does not allow pinning, or the request may not pin."}, []string{"host"})
	g.registry.MustRegister(g.requests, g.duration, g.retries, g.healthy, g.checks, g.weights, g.pinsIgnored)
	empty := map[string]*route{}
	g.routes.Store(&empty)
	routes, err := initialRoutes(cfg)
	if err != nil {
		return nil, err
	}
	for _, rc := range routes {
		if err := g.ApplyRoute(rc); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (g *Gateway) newBackend(bc Backend) *backend {
	u, _ := url.Parse(bc.URL)
	hp := bc.HealthPath
	if hp == "" {
		hp = "/"
	}
	b := &backend{name: bc.Name, url: u, health: hp, spec: bc}
	// net/http's Transport for every backend: it alone decides when a
	// connection's framing allows reuse (1xx answers, Expect, HEAD, 204
	// and 304, trailers, answers not read to their end, upgrades). A
	// hand-written pool that got this wrong handed users each other's
	// answers; TestDifferentialAgainstHAProxy holds the line.
	b.transport = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: g.cfg.Timeouts.BackendDial.Duration, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       g.cfg.Timeouts.BackendIdle.Duration,
		ResponseHeaderTimeout: g.cfg.Timeouts.BackendResponseHeader.Duration,
		TLSHandshakeTimeout:   g.cfg.Timeouts.BackendDial.Duration,
		// The client's own Expect: 100-continue goes on to the backend,
		// whose 100 (or final answer) the reverse proxy relays.
		ExpectContinueTimeout: time.Second,
		// Answers pass as the backend sent them: no Accept-Encoding added
		// for the client, nothing decompressed on the way (as HAProxy).
		DisableCompression: true,
	}
	b.healthy.Store(true)
	return b
}

// bind makes a backend's proxy for a route: the route's upstream Host
// and affinity cookie are fixed here, per apply, not per request.
func (g *Gateway) bind(rc Route, b *backend, weight int) *binding {
	bd := &binding{backend: b, weight: weight,
		served: g.requests.WithLabelValues(rc.Host, b.name, "200"), took: g.duration.WithLabelValues(rc.Host, b.name)}
	upstream := rc.UpstreamHost
	servedBy := []string{b.name}
	var cookie string
	if rc.Affinity {
		cookie = (&http.Cookie{Name: affinityCookie, Value: b.name, Path: "/", HttpOnly: true}).String()
	}
	bd.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(b.url)
			pr.Out.Header.Del(PinHeader)
			pr.Out.Header.Del(PinSecretHeader) // never sent on to a backend
			pr.Out.Host = pr.In.Host           // the clusters' ingresses route by the user's host
			if upstream != "" {
				pr.Out.Host = upstream
			}
			pr.SetXForwarded()
		},
		Transport:  b.transport,
		BufferPool: bufferPool,
		ErrorLog:   slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
		ModifyResponse: func(resp *http.Response) error {
			resp.Header[BackendHeader] = servedBy
			if cookie != "" {
				resp.Header.Add("Set-Cookie", cookie)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if rec, ok := w.(*statusRecorder); ok && rec.retryable && errors.Is(err, syscall.ECONNREFUSED) {
				rec.refused = true // nothing was written: try another backend
				return
			}
			if r.Context().Err() != nil {
				// The client went away; record it as proxies do (499),
				// not as a backend failure.
				w.WriteHeader(StatusClientClosed)
				return
			}
			if rec, ok := w.(*statusRecorder); ok && rec.body != nil && rec.body.err() != nil {
				// The client's body was malformed or cut: its fault, as
				// HAProxy answers, not the backend's.
				http.Error(w, "reading the request's body: "+rec.body.err().Error(), http.StatusBadRequest)
				return
			}
			http.Error(w, "backend "+b.name+": "+err.Error(), http.StatusBadGateway)
		},
	}
	return bd
}

// lookup finds the route of a host or alias.
func (g *Gateway) lookup(host string) *route { return (*g.routes.Load())[host] }

// Route returns a route as it is now: its backends and their weights.
func (g *Gateway) Route(host string) (Route, error) {
	rt := g.lookup(host)
	if rt == nil || rt.host != host {
		return Route{}, fmt.Errorf("%w %q", ErrNoRoute, host)
	}
	st := rt.now()
	out := st.spec
	out.Backends = nil
	for _, b := range st.spec.Backends {
		b.Weight = st.weights[b.Name]
		out.Backends = append(out.Backends, b)
	}
	return out, nil
}

// ErrNoRoute is returned for a host the gateway has no route for.
var ErrNoRoute = traffic.ErrNoRoute

// ApplyRoute creates a route or replaces its backends, weights and
// options at once. Backends kept with the same URL keep their connections
// and health; removed ones have their idle connections closed.
func (g *Gateway) ApplyRoute(rc Route) error {
	if err := rc.Validate(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	current := *g.routes.Load()
	for _, h := range append([]string{rc.Host}, rc.Aliases...) {
		if other := current[h]; other != nil && other.host != rc.Host {
			return fmt.Errorf("host %q is already served by route %s", h, other.host)
		}
	}
	rt := current[rc.Host]
	var old *routeState
	if rt == nil {
		rt = &route{host: rc.Host}
	} else {
		old = rt.now()
	}
	keep := map[string]*backend{}
	if old != nil {
		for _, b := range old.backends {
			keep[b.name] = b.backend
		}
	}
	next := &routeState{weights: traffic.Weights{}, spec: rc}
	for _, bc := range rc.Backends {
		b := keep[bc.Name]
		if b == nil || b.spec.URL != bc.URL || b.spec.HealthPath != bc.HealthPath {
			b = g.newBackend(bc)
		}
		delete(keep, bc.Name)
		next.backends = append(next.backends, g.bind(rc, b, bc.Weight))
		next.weights[bc.Name] = bc.Weight
		g.weights.WithLabelValues(rc.Host, bc.Name).Set(float64(bc.Weight))
		if b.healthy.Load() {
			g.healthy.WithLabelValues(rc.Host, bc.Name).Set(1)
		}
	}
	rt.state.Store(next)
	for _, b := range keep {
		g.retire(rc.Host, b)
	}
	updated := map[string]*route{}
	for h, r := range current {
		if r != rt {
			updated[h] = r
		}
	}
	for _, h := range append([]string{rc.Host}, rc.Aliases...) {
		updated[h] = rt
	}
	g.routes.Store(&updated)
	slog.Info("gateway route applied", "host", rc.Host, "weights", next.weights.String())
	return g.saveState()
}

// DeleteRoute removes a route and its aliases: their hosts get 404 from
// then on, requests in flight finish, idle connections to its backends
// are closed, and the state file forgets it.
func (g *Gateway) DeleteRoute(host string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	current := *g.routes.Load()
	rt := current[host]
	switch {
	case rt == nil:
		return fmt.Errorf("%w %q", ErrNoRoute, host)
	case rt.host != host:
		return fmt.Errorf("%q is an alias of route %s: delete %s, or apply it without the alias", host, rt.host, rt.host)
	}
	updated := map[string]*route{}
	for h, r := range current {
		if r != rt {
			updated[h] = r
		}
	}
	g.routes.Store(&updated)
	for _, b := range rt.now().backends {
		g.retire(host, b.backend)
	}
	slog.Info("gateway route deleted", "host", host)
	return g.saveState()
}

// retire lets a backend a route no longer has go: its idle connections
// closed, its gauges gone.
func (g *Gateway) retire(host string, b *backend) {
	b.transport.CloseIdleConnections()
	g.weights.DeleteLabelValues(host, b.name)
	g.healthy.DeleteLabelValues(host, b.name)
}

// Run serves users, the admin API and (when set) the metrics listener
// until ctx ends, then drains.
func (g *Gateway) Run(ctx context.Context) error {
	t := g.cfg.Timeouts
	server := func(h http.Handler) *http.Server {
		return &http.Server{Handler: h, MaxHeaderBytes: MaxHeaderBytes, ReadHeaderTimeout: t.ReadHeader.Duration, ReadTimeout: t.Read.Duration,
			WriteTimeout: t.Write.Duration, IdleTimeout: t.Idle.Duration, ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)}
	}
	type listener struct {
		name, addr string
		srv        *http.Server
		cert       *certificate
	}
	listeners := []listener{
		{"listen", g.cfg.Listen, server(g), g.frontCert},
		{"adminListen", g.cfg.AdminListen, server(g.adminHandler()), g.adminCert},
	}
	if g.cfg.MetricsListen != "" {
		listeners = append(listeners, listener{"metricsListen", g.cfg.MetricsListen, server(g.metricsHandler()), nil})
	}
	var nls []net.Listener
	closeAll := func() {
		for _, l := range nls {
			l.Close()
		}
	}
	for _, l := range listeners {
		nl, err := net.Listen("tcp", l.addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("gateway %s %s: %w", l.name, l.addr, err)
		}
		if l.cert != nil {
			nl = tls.NewListener(nl, l.cert.config())
		}
		nls = append(nls, nl)
	}
	go g.healthLoop(ctx)
	errc := make(chan error, len(listeners))
	for i, l := range listeners {
		go func() { errc <- l.srv.Serve(nls[i]) }()
	}
	slog.Info("gateway serving", "listen", g.cfg.Listen, "tls", g.frontCert != nil, "admin", g.cfg.AdminListen, "adminTLS", g.adminCert != nil,
		"metrics", g.cfg.MetricsListen, "routes", len(*g.routes.Load()))
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := len(listeners) - 1; i >= 0; i-- {
		_ = listeners[i].srv.Shutdown(shutdown)
	}
	return err
}

// ServeHTTP proxies a user's request to a backend of its host's route.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOf(r.Host)
	rt := g.lookup(host)
	if rt == nil {
		http.Error(w, fmt.Sprintf("no route for host %q", host), http.StatusNotFound)
		return
	}
	host = rt.host // metrics count aliases under their route
	st := rt.now()
	start := time.Now()
	var triedArr [maxAttempts]*binding
	tried := triedArr[:0]
	pinned := g.pinned(st, r)
	idempotent := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions || r.Body == nil || r.ContentLength == 0
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	if r.Body != nil && r.Body != http.NoBody {
		// A copy of the request carries the watched body: the server
		// looks at the original's to handle Expect: 100-continue.
		rec.body = &clientBody{ReadCloser: r.Body}
		r = r.WithContext(r.Context())
		r.Body = rec.body
	}
	for attempt := 1; ; attempt++ {
		b := g.pick(st, r, pinned, tried)
		if b == nil {
			g.requests.WithLabelValues(host, "none", "503").Inc()
			msg := fmt.Sprintf("no healthy backend for host %q", host)
			if pinned != "" && !triedName(tried, pinned) {
				msg = fmt.Sprintf("host %q has no healthy backend %q (%s names it)", host, pinned, PinHeader)
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		tried = append(tried, b)
		rec.retryable, rec.refused = idempotent && attempt < maxAttempts && pinned == "", false
		b.proxy.ServeHTTP(rec, r)
		if rec.refused {
			g.retries.WithLabelValues(host, b.name).Inc()
			g.markUnhealthy(host, b.backend)
			continue
		}
		if rec.code == http.StatusOK {
			b.served.Inc()
		} else {
			g.requests.WithLabelValues(host, b.name, strconv.Itoa(rec.code)).Inc()
		}
		b.took.Observe(time.Since(start).Seconds())
		return
	}
}

// hostOf is a Host header without its port.
func hostOf(h string) string {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || strings.HasSuffix(h, "]") {
		return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	}
	return strings.TrimSuffix(strings.TrimPrefix(h[:i], "["), "]")
}

func triedName(tried []*binding, name string) bool {
	for _, b := range tried {
		if b.name == name {
			return true
		}
	}
	return false
}

// statusRecorder notes the status a proxy writes, and carries one
// attempt's retry state between ServeHTTP and the proxy's error handler.
type statusRecorder struct {
	http.ResponseWriter
	code      int
	retryable bool // a refused connection may be retried elsewhere
	refused   bool // it was: nothing has been written
	body      *clientBody
}

// clientBody is a request's body as the client sends it. It keeps the
// error of a read that failed, to tell a malformed or cut request (400)
// from a failing backend (502). A body never read is not closed by the
// proxy: closing drains it from the client, which, having asked
// "Expect: 100-continue" of a backend that answered without wanting the
// body, waits for a 100 that never comes; the server closes it once the
// answer is out, and the connection with it.
type clientBody struct {
	io.ReadCloser
	failed atomic.Pointer[error] // read on the Transport's goroutine, checked on the handler's
	read   atomic.Bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.failed.Store(&err)
	}
	return n, err
}

// err is why reading the client's body failed, if it did.
func (b *clientBody) err() error {
	if p := b.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (b *clientBody) Close() error {
	if !b.read.Load() {
		return nil
	}
	return b.ReadCloser.Close()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// pick chooses a backend: the pinned one while it is healthy, the
// affinity cookie's while it is healthy and weighted, else a weighted
// random choice among healthy ones. It allocates nothing.
func (g *Gateway) pick(st *routeState, r *http.Request, pinned string, tried []*binding) *binding {
	if pinned != "" {
		for _, b := range st.backends {
			if b.name == pinned && b.healthy.Load() && !slices.Contains(tried, b) {
				return b
			}
		}
		return nil
	}
	if st.spec.Affinity {
		if c, err := r.Cookie(affinityCookie); err == nil {
			for _, b := range st.backends {
				if b.name == c.Value && b.weight > 0 && b.healthy.Load() && !slices.Contains(tried, b) {
					return b
				}
			}
		}
	}
	usable := func(b *binding) bool { return b.weight > 0 && b.healthy.Load() && !slices.Contains(tried, b) }
	total := 0
	for _, b := range st.backends {
		if usable(b) {
			total += b.weight
		}
	}
	if total == 0 {
		// Nothing healthy with weight: fall back to any weighted backend
		// not tried yet rather than refuse outright.
		for _, b := range st.backends {
			if b.weight > 0 && !slices.Contains(tried, b) {
				return b
			}
		}
		return nil
	}
	n := rand.IntN(total)
	var last *binding
	for _, b := range st.backends {
		if !usable(b) {
			continue
		}
		if n < b.weight {
			return b
		}
		n -= b.weight
		last = b
	}
	return last
}

func (g *Gateway) markUnhealthy(host string, b *backend) {
	b.healthy.Store(false)
	g.healthy.WithLabelValues(host, b.name).Set(0)
}

// healthLoop checks every backend with its route's Host header.
func (g *Gateway) healthLoop(ctx context.Context) {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		for host, rt := range *g.routes.Load() {
			if host != rt.host {
				continue // an alias
			}
			st := rt.now()
			for _, b := range st.backends {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url.String()+b.health, nil)
				if err != nil {
					continue
				}
				req.Host = rt.host
				if st.spec.UpstreamHost != "" {
					req.Host = st.spec.UpstreamHost
				}
				req.Header.Set("User-Agent", "upshift-gateway-health")
				resp, err := client.Do(req)
				ok := err == nil && resp.StatusCode < 500
				switch {
				case resp != nil:
					resp.Body.Close()
					g.checks.WithLabelValues(rt.host, b.name, "answered").Inc()
				case ctx.Err() == nil:
					g.checks.WithLabelValues(rt.host, b.name, "failed").Inc()
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
	rt := g.lookup(host)
	if rt == nil || rt.host != host {
		return nil, fmt.Errorf("%w %q", ErrNoRoute, host)
	}
	return maps.Clone(rt.now().weights), nil
}

// SetWeights changes a route's weights; requests in flight finish where
// they are, new ones follow the new weights, and idle connections to
// backends that lost all their weight are closed.
func (g *Gateway) SetWeights(host string, w traffic.Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	rt := g.lookup(host)
	if rt == nil || rt.host != host {
		return fmt.Errorf("%w %q", ErrNoRoute, host)
	}
	old := rt.now()
	names := map[string]bool{}
	for _, b := range old.backends {
		names[b.name] = true
	}
	for name := range w {
		if !names[name] {
			return fmt.Errorf("route %s has no backend %q (it has %s)", host, name, strings.Join(sortedKeys(names), ", "))
		}
	}
	next := &routeState{weights: traffic.Weights{}, spec: old.spec}
	for _, b := range old.backends {
		nb := *b // the same proxy and connections, a new weight
		nb.weight = w[b.name]
		next.backends = append(next.backends, &nb)
		next.weights[b.name] = w[b.name]
	}
	rt.state.Store(next)
	for _, b := range old.backends {
		g.weights.WithLabelValues(host, b.name).Set(float64(next.weights[b.name]))
		if next.weights[b.name] == 0 {
			b.transport.CloseIdleConnections()
		}
	}
	slog.Info("gateway weights changed", "host", host, "weights", w.String())
	return g.saveState()
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// metricsHandler serves /metrics alone, read-only, for scrapers.
func (g *Gateway) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.registry, promhttp.HandlerOpts{}))
	return mux
}

// adminHandler serves GET/PUT /routes/{host}[/weights], DELETE
// /routes/{host} and /metrics, all behind the bearer token.
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
	mux.HandleFunc("GET /routes/{host}", func(w http.ResponseWriter, r *http.Request) {
		rc, err := g.Route(r.PathValue("host"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rc)
	})
	mux.HandleFunc("PUT /routes/{host}", func(w http.ResponseWriter, r *http.Request) {
		var rc Route
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rc); err != nil {
			http.Error(w, "body must be a JSON route (host, backends, aliases, upstreamHost, affinity): "+err.Error(), http.StatusBadRequest)
			return
		}
		if rc.Host != r.PathValue("host") {
			http.Error(w, fmt.Sprintf("the body's host %q is not the path's %q", rc.Host, r.PathValue("host")), http.StatusBadRequest)
			return
		}
		if err := g.ApplyRoute(rc); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /routes/{host}", func(w http.ResponseWriter, r *http.Request) {
		err := g.DeleteRoute(r.PathValue("host"))
		switch {
		case errors.Is(err, ErrNoRoute):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
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
