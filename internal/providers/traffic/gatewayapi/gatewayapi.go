package gatewayapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/restconfig"
)

// ManagedBy labels the Services and EndpointSlices the provider makes.
const ManagedBy = "upshift.dev/traffic"

// Scheme holds the core and Gateway API types the provider reads.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = gatewayv1.Install(s)
	return s
}

// Provider switches names carried by HTTPRoutes of one namespace.
type Provider struct {
	c         client.Client
	namespace string
	parent    gatewayv1.ParentReference
	routes    map[string]string
	accept    time.Duration
	poll      time.Duration
}

var (
	_ traffic.Provider     = (*Provider)(nil)
	_ traffic.Router       = (*Provider)(nil)
	_ traffic.HeaderPinner = (*Provider)(nil)
)

// FromSpec builds the provider of a run's traffic spec.
func FromSpec(t v1alpha1.TrafficSpec) (traffic.Provider, error) {
	g := t.GatewayAPI
	if g == nil || g.ParentRef.Name == "" {
		return nil, fmt.Errorf("spec.blueGreen.traffic.gatewayAPI.parentRef.name is required with provider gatewayapi: the Gateway the routes attach to")
	}
	cfg, err := restconfig.FromKubeconfig(g.Kubeconfig, g.Context)
	if err != nil {
		return nil, fmt.Errorf("spec.blueGreen.traffic.gatewayAPI: %w", err)
	}
	return New(cfg, *g)
}

// logOnce gives controller-runtime's client a logger where nothing has
// (the CLI): without one it prints a stack trace on its first warning. A
// hub sets its own first, and this one is then ignored.
var logOnce sync.Once

// NewClient returns a client of the Gateway API and core objects on the
// cluster cfg reaches, for the provider and the gateway following the
// routes alike.
func NewClient(cfg *rest.Config) (client.WithWatch, error) {
	logOnce.Do(func() { ctrllog.SetLogger(logr.FromSlogHandler(slog.Default().Handler())) })
	return client.NewWithWatch(cfg, client.Options{Scheme: Scheme()})
}

// New returns a provider on the cluster cfg reaches.
func New(cfg *rest.Config, g v1alpha1.GatewayAPITraffic) (*Provider, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	p := &Provider{c: c, namespace: g.Namespace, routes: g.Routes, accept: time.Minute, poll: 100 * time.Millisecond}
	if p.namespace == "" {
		p.namespace = "default"
	}
	if g.AcceptTimeout != nil {
		p.accept = g.AcceptTimeout.Duration
	}
	p.parent = gatewayv1.ParentReference{Name: gatewayv1.ObjectName(g.ParentRef.Name)}
	if g.ParentRef.Namespace != "" {
		p.parent.Namespace = ptr.To(gatewayv1.Namespace(g.ParentRef.Namespace))
	}
	if g.ParentRef.SectionName != "" {
		p.parent.SectionName = ptr.To(gatewayv1.SectionName(g.ParentRef.SectionName))
	}
	return p, nil
}

func (p *Provider) routeName(host string) string {
	if n, ok := p.routes[host]; ok {
		return n
	}
	return strings.ToLower(host)
}

// route reads a host's HTTPRoute; traffic.ErrNoRoute when missing.
func (p *Provider) route(ctx context.Context, host string) (*gatewayv1.HTTPRoute, error) {
	var r gatewayv1.HTTPRoute
	key := client.ObjectKey{Namespace: p.namespace, Name: p.routeName(host)}
	if err := p.c.Get(ctx, key, &r); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("HTTPRoute %s: %w %q", key, traffic.ErrNoRoute, host)
		}
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the cluster has no Gateway API (HTTPRoute gateway.networking.k8s.io/v1): install its CRDs and an implementation: %w", err)
		}
		return nil, fmt.Errorf("reading HTTPRoute %s: %w", key, err)
	}
	return &r, nil
}

// switched is the rule whose backendRefs carry the weights: the first
// rule without matches of its own (the one every request falls to).
func switched(r *gatewayv1.HTTPRoute) (*gatewayv1.HTTPRouteRule, error) {
	for i := range r.Spec.Rules {
		if len(r.Spec.Rules[i].Matches) == 0 && len(r.Spec.Rules[i].BackendRefs) > 0 {
			return &r.Spec.Rules[i], nil
		}
	}
	for i := range r.Spec.Rules {
		if len(r.Spec.Rules[i].BackendRefs) > 0 && !isPin(r.Spec.Rules[i]) {
			return &r.Spec.Rules[i], nil
		}
	}
	return nil, fmt.Errorf("HTTPRoute %s/%s has no rule with backendRefs", r.Namespace, r.Name)
}

func shares(rule *gatewayv1.HTTPRouteRule) traffic.Weights {
	var s []traffic.Share
	for _, b := range rule.BackendRefs {
		w := 1
		if b.Weight != nil {
			w = int(*b.Weight)
		}
		s = append(s, traffic.Share{Name: string(b.Name), Weight: w})
	}
	return traffic.Percents(s)
}

// Weights reads the share of each backendRef of the route's switched rule.
func (p *Provider) Weights(ctx context.Context, host string) (traffic.Weights, error) {
	r, err := p.route(ctx, host)
	if err != nil {
		return nil, err
	}
	rule, err := switched(r)
	if err != nil {
		return nil, err
	}
	return shares(rule), nil
}

// Switch sets the weights of the route's backendRefs in one update
// guarded by its resourceVersion (read again on a conflict), then waits
// for the implementation to accept that generation.
func (p *Provider) Switch(ctx context.Context, host string, w traffic.Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	var gen int64
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r, err := p.route(ctx, host)
		if err != nil {
			return err
		}
		rule, err := switched(r)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, b := range rule.BackendRefs {
			have[string(b.Name)] = true
		}
		for name := range w {
			if !have[name] {
				return fmt.Errorf("HTTPRoute %s/%s %w %s: add it to the route first", r.Namespace, r.Name, ErrNoBackend, name)
			}
		}
		for i := range rule.BackendRefs {
			rule.BackendRefs[i].Weight = ptr.To(int32(w[string(rule.BackendRefs[i].Name)]))
		}
		if err := p.c.Update(ctx, r); err != nil {
			return err
		}
		gen = r.Generation
		return nil
	})
	if err != nil {
		return err
	}
	return p.accepted(ctx, host, gen, w)
}

// ErrNoBackend is a switch naming a backend the route lacks: bad input,
// which changes nothing.
var ErrNoBackend = errors.New("has no backendRef")

// accepted waits until the route's implementation reports generation gen
// (or later) Accepted with its references resolved for the provider's
// Gateway, and checks the weights then are w.
func (p *Provider) accepted(ctx context.Context, host string, gen int64, w traffic.Weights) error {
	deadline := time.Now().Add(p.accept)
	last := "no status from any implementation"
	for {
		r, err := p.route(ctx, host)
		if err != nil {
			return err
		}
		if r.Generation > gen {
			gen = r.Generation // someone changed it since: that one must be accepted
		}
		ok, why := p.acceptedAt(r, gen)
		if ok {
			rule, err := switched(r)
			if err != nil {
				return err
			}
			if got := shares(rule); w != nil && got.String() != w.String() {
				return fmt.Errorf("HTTPRoute %s/%s carries %s, not %s: another writer changed it", r.Namespace, r.Name, got, w)
			}
			return nil
		}
		last = why
		if time.Now().After(deadline) {
			return fmt.Errorf("HTTPRoute %s/%s was updated (generation %d), but its Gateway %s did not accept it within %s: %s; is its implementation running?", r.Namespace, r.Name, gen, p.parent.Name, p.accept, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.poll):
		}
	}
}

// acceptedAt says whether the route's status for the provider's Gateway
// has Accepted and ResolvedRefs true at generation gen or later, and if
// not, why.
func (p *Provider) acceptedAt(r *gatewayv1.HTTPRoute, gen int64) (bool, string) {
	for _, ps := range r.Status.Parents {
		if !p.sameParent(ps.ParentRef, r.Namespace) {
			continue
		}
		for _, t := range []string{string(gatewayv1.RouteConditionAccepted), string(gatewayv1.RouteConditionResolvedRefs)} {
			c := meta.FindStatusCondition(ps.Conditions, t)
			switch {
			case c == nil:
				return false, fmt.Sprintf("%s reports no %s condition", ps.ControllerName, t)
			case c.ObservedGeneration < gen:
				return false, fmt.Sprintf("%s has seen generation %d only", ps.ControllerName, c.ObservedGeneration)
			case c.Status != metav1.ConditionTrue:
				return false, fmt.Sprintf("%s reports %s %s: %s: %s", ps.ControllerName, t, c.Status, c.Reason, c.Message)
			}
		}
		return true, ""
	}
	return false, "no implementation has reported on the route for Gateway " + string(p.parent.Name)
}

func (p *Provider) sameParent(ref gatewayv1.ParentReference, routeNS string) bool {
	ns := func(n *gatewayv1.Namespace) string {
		if n == nil {
			return routeNS
		}
		return string(*n)
	}
	if ref.Name != p.parent.Name || ns(ref.Namespace) != ns(p.parent.Namespace) {
		return false
	}
	if ref.Kind != nil && *ref.Kind != "Gateway" {
		return false
	}
	return ptr.Deref(ref.SectionName, "") == ptr.Deref(p.parent.SectionName, "")
}
