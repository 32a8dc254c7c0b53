package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
)

// Answer is the body of a routed request.
type Answer struct {
	Cluster           string `json:"cluster"`
	KubernetesVersion string `json:"kubernetesVersion"`
	Ingress           string `json:"ingress"` // namespace/name
	Service           string `json:"service"` // namespace/name
	ReadyEndpoints    int    `json:"readyEndpoints"`
	Error             string `json:"error,omitempty"`
}

// Server routes requests by Host to the cluster's Ingress backends.
type Server struct {
	cluster   string
	client    kubernetes.Interface
	ingresses networkinglisters.IngressLister
	slices    discoverylisters.EndpointSliceLister
	factory   informers.SharedInformerFactory
	requests  *prometheus.CounterVec
	registry  *prometheus.Registry

	// answered counts answers with a fault annotation, to spread the
	// failed share evenly.
	answered atomic.Int64

	mu        sync.Mutex
	version   string
	versionAt time.Time
}

// New prepares a server for the named cluster; Start begins watching.
func New(cluster string, client kubernetes.Interface) *Server {
	factory := informers.NewSharedInformerFactory(client, 0)
	s := &Server{
		cluster:   cluster,
		client:    client,
		factory:   factory,
		ingresses: factory.Networking().V1().Ingresses().Lister(),
		slices:    factory.Discovery().V1().EndpointSlices().Lister(),
		registry:  prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upshift_ingress_requests_total",
			Help: "Requests the ingress stand-in answered, by host and status code.",
		}, []string{"host", "code"}),
	}
	s.registry.MustRegister(s.requests)
	return s
}

// Start watches Ingresses and EndpointSlices and returns once the caches
// are filled, so that the first answer is already right.
func (s *Server) Start(ctx context.Context) error {
	s.factory.Networking().V1().Ingresses().Informer()
	s.factory.Discovery().V1().EndpointSlices().Informer()
	s.factory.Start(ctx.Done())
	for typ, ok := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("ingress stand-in of %s: could not list %v", s.cluster, typ)
		}
	}
	return nil
}

// ServeHTTP answers: requests addressed to the listener itself (an IP or
// localhost) reach /healthz and /metrics; any other host is routed through
// the Ingress objects.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	if host == "localhost" || net.ParseIP(host) != nil {
		s.serveAdmin(w, r)
		return
	}
	code, answer := s.route(r.Context(), host, r.URL.Path)
	s.requests.WithLabelValues(host, fmt.Sprint(code)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Upshift-Cluster", s.cluster)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(answer)
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		fmt.Fprintln(w, "ok")
	case "/metrics":
		promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	default:
		http.Error(w, "the ingress stand-in routes by Host: send a Host header naming an Ingress host; /healthz and /metrics answer here", http.StatusNotFound)
	}
}

// route finds the backend of host and path and says whether it can serve.
func (s *Server) route(ctx context.Context, host, path string) (int, Answer) {
	answer := Answer{Cluster: s.cluster, KubernetesVersion: s.serverVersion(ctx)}
	ing, backend, ok := s.match(host, path)
	if !ok {
		answer.Error = fmt.Sprintf("no Ingress in cluster %s serves host %q", s.cluster, host)
		return http.StatusNotFound, answer
	}
	answer.Ingress = ing.Namespace + "/" + ing.Name
	if backend.Service == nil {
		answer.Error = "the Ingress backend is not a Service"
		return http.StatusServiceUnavailable, answer
	}
	answer.Service = ing.Namespace + "/" + backend.Service.Name
	answer.ReadyEndpoints = s.readyEndpoints(ing.Namespace, backend.Service.Name)
	if answer.ReadyEndpoints == 0 {
		answer.Error = fmt.Sprintf("service %s has no ready endpoints", answer.Service)
		return http.StatusServiceUnavailable, answer
	}
	if msg := s.fault(ctx, ing, answer.KubernetesVersion); msg != "" {
		answer.Error = msg
		return http.StatusInternalServerError, answer
	}
	return http.StatusOK, answer
}

// Fault annotations make an Ingress's app misbehave, as an app broken by
// a new Kubernetes version would, so that canary analysis has something
// real to catch: FaultErrorPercent of the answers are 500s (spread evenly,
// not at random), each answer is delayed by FaultDelay, and with
// FaultKubernetesVersion only on clusters whose version starts with it
// (v1.37).
const (
	FaultErrorPercent      = "fault.upshift.dev/error-percent"
	FaultDelay             = "fault.upshift.dev/delay"
	FaultKubernetesVersion = "fault.upshift.dev/kubernetes-version"
)

// fault applies the Ingress's fault annotations to one answer: it waits
// the delay, and returns an error message when this answer is one of the
// failed share.
func (s *Server) fault(ctx context.Context, ing *networkingv1.Ingress, version string) string {
	a := ing.Annotations
	if v := a[FaultKubernetesVersion]; v != "" && !strings.HasPrefix(version, v) {
		return ""
	}
	if d, err := time.ParseDuration(a[FaultDelay]); err == nil && d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	pct, err := strconv.Atoi(a[FaultErrorPercent])
	if err != nil || pct <= 0 {
		return ""
	}
	n := s.answered.Add(1)
	if n*int64(pct)/100 == (n-1)*int64(pct)/100 {
		return ""
	}
	return fmt.Sprintf("injected fault: %d%% of answers fail (%s)", pct, FaultErrorPercent)
}

// match applies Ingress rules the way controllers do: an exact host beats a
// wildcard, which beats a rule without host; the longest path wins.
func (s *Server) match(host, path string) (*networkingv1.Ingress, networkingv1.IngressBackend, bool) {
	all, err := s.ingresses.List(labels.Everything())
	if err != nil {
		return nil, networkingv1.IngressBackend{}, false
	}
	sort.Slice(all, func(i, j int) bool {
		return all[i].Namespace+"/"+all[i].Name < all[j].Namespace+"/"+all[j].Name
	})
	type candidate struct {
		ing      *networkingv1.Ingress
		backend  networkingv1.IngressBackend
		hostRank int // 3 exact, 2 wildcard, 1 any host
		pathLen  int
	}
	var best *candidate
	consider := func(c candidate) {
		if best == nil || c.hostRank > best.hostRank || (c.hostRank == best.hostRank && c.pathLen > best.pathLen) {
			best = &c
		}
	}
	for _, ing := range all {
		for _, rule := range ing.Spec.Rules {
			rank := hostRank(rule.Host, host)
			if rank == 0 {
				continue
			}
			if rule.HTTP == nil {
				if ing.Spec.DefaultBackend != nil {
					consider(candidate{ing, *ing.Spec.DefaultBackend, rank, 0})
				}
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if pathMatches(p, path) {
					consider(candidate{ing, p.Backend, rank, len(p.Path)})
				}
			}
		}
		if len(ing.Spec.Rules) == 0 && ing.Spec.DefaultBackend != nil {
			consider(candidate{ing, *ing.Spec.DefaultBackend, 1, 0})
		}
	}
	if best == nil {
		return nil, networkingv1.IngressBackend{}, false
	}
	return best.ing, best.backend, true
}

func hostRank(ruleHost, host string) int {
	switch {
	case ruleHost == "":
		return 1
	case ruleHost == host:
		return 3
	case strings.HasPrefix(ruleHost, "*."):
		suffix := ruleHost[1:] // ".example.com"
		if strings.HasSuffix(host, suffix) && !strings.Contains(strings.TrimSuffix(host, suffix), ".") {
			return 2
		}
	}
	return 0
}

func pathMatches(p networkingv1.HTTPIngressPath, path string) bool {
	if p.Path == "" || p.Path == "/" {
		return true
	}
	if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
		return path == p.Path
	}
	prefix := strings.TrimSuffix(p.Path, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// readyEndpoints counts the ready endpoints of a Service across its slices.
func (s *Server) readyEndpoints(namespace, service string) int {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: service})
	slices, err := s.slices.EndpointSlices(namespace).List(sel)
	if err != nil {
		return 0
	}
	n := 0
	for _, slice := range slices {
		for _, ep := range slice.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n++
			}
		}
	}
	return n
}

// serverVersion asks the API server for its version at most once a second,
// so the answer follows a control-plane upgrade.
func (s *Server) serverVersion(ctx context.Context) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.versionAt) < time.Second && s.version != "" {
		return s.version
	}
	if v, err := s.client.Discovery().ServerVersion(); err == nil {
		s.version, s.versionAt = v.GitVersion, time.Now()
	}
	return s.version
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}

// ListenAndServe serves on addr until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("ingress stand-in serving", "cluster", s.cluster, "addr", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("ingress stand-in of %s on %s: %w", s.cluster, addr, err)
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
