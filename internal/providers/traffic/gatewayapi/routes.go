package gatewayapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"upshift.dev/upshift/internal/providers/traffic"
)

// Route reads a host's HTTPRoute as a route: the switched rule's
// backendRefs with the address each Service reaches, the other hostnames
// as aliases, and a URLRewrite filter's hostname as the upstream Host.
func (p *Provider) Route(ctx context.Context, host string) (traffic.Route, error) {
	r, err := p.route(ctx, host)
	if err != nil {
		return traffic.Route{}, err
	}
	rule, err := switched(r)
	if err != nil {
		return traffic.Route{}, err
	}
	out := traffic.Route{Host: host}
	for _, h := range r.Spec.Hostnames {
		if string(h) != host {
			out.Aliases = append(out.Aliases, string(h))
		}
	}
	out.UpstreamHost = UpstreamHost(rule)
	for _, rl := range r.Spec.Rules {
		if isPin(rl) {
			out.AllowPin = true
		}
	}
	if out.Backends, err = Backends(ctx, p.c, r.Namespace, rule); err != nil {
		return traffic.Route{}, fmt.Errorf("HTTPRoute %s/%s: %w", r.Namespace, r.Name, err)
	}
	return out, nil
}

// UpstreamHost is the Host a rule sends to its backends: its URLRewrite
// filter's hostname, or "" to keep the request's.
func UpstreamHost(rule *gatewayv1.HTTPRouteRule) string {
	host := ""
	for _, f := range rule.Filters {
		if f.URLRewrite != nil && f.URLRewrite.Hostname != nil {
			host = string(*f.URLRewrite.Hostname)
		}
	}
	return host
}

// Backends reads a rule's backendRefs as backends: where each Service
// sends requests (ServiceURL) and its share of the rule's weight in
// percent.
func Backends(ctx context.Context, c client.Reader, routeNS string, rule *gatewayv1.HTTPRouteRule) ([]traffic.Backend, error) {
	w := shares(rule)
	var out []traffic.Backend
	for _, b := range rule.BackendRefs {
		u, err := ServiceURL(ctx, c, routeNS, b.BackendObjectReference)
		if err != nil {
			return nil, err
		}
		out = append(out, traffic.Backend{Name: string(b.Name), URL: u, Weight: w[string(b.Name)]})
	}
	return out, nil
}

// ServiceURL is where a backendRef's Service sends requests: its
// ExternalName, or the first ready address of its EndpointSlices, at the
// ref's port; https where the Service port's appProtocol says so.
func ServiceURL(ctx context.Context, c client.Reader, routeNS string, ref gatewayv1.BackendObjectReference) (string, error) {
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Service") {
		return "", fmt.Errorf("backendRef %s is a %s, not a Service", ref.Name, ptr.Deref(ref.Kind, ""))
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	var svc corev1.Service
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: string(ref.Name)}, &svc); err != nil {
		return "", fmt.Errorf("backendRef %s: %w", ref.Name, err)
	}
	if ref.Port == nil {
		return "", fmt.Errorf("backendRef %s names no port", ref.Name)
	}
	port := int32(*ref.Port)
	scheme := "http"
	for _, sp := range svc.Spec.Ports {
		if sp.Port == port && ptr.Deref(sp.AppProtocol, "") == "https" {
			scheme = "https"
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return scheme + "://" + net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(port))), nil
	}
	var slices discoveryv1.EndpointSliceList
	if err := c.List(ctx, &slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
		return "", fmt.Errorf("backendRef %s: %w", ref.Name, err)
	}
	for _, es := range slices.Items {
		target := port
		for _, sp := range svc.Spec.Ports {
			if sp.Port == port && sp.TargetPort.IntVal != 0 {
				target = sp.TargetPort.IntVal
			}
		}
		for _, e := range es.Endpoints {
			if len(e.Addresses) > 0 && ptr.Deref(e.Conditions.Ready, true) {
				return scheme + "://" + net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(target))), nil
			}
		}
	}
	return "", fmt.Errorf("backendRef %s: Service %s/%s has no ready endpoint", ref.Name, ns, svc.Name)
}

// ApplyRoute makes a host's HTTPRoute carry the route: a Service per
// backend reaching its URL, the switched rule's backendRefs with their
// weights (other rules kept), the aliases as more hostnames and the
// upstream Host as a URLRewrite filter; then waits for the Gateway's
// implementation to accept it.
func (p *Provider) ApplyRoute(ctx context.Context, r traffic.Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var refs []gatewayv1.HTTPBackendRef
	for _, b := range r.Backends {
		port, err := p.ensureService(ctx, b)
		if err != nil {
			return fmt.Errorf("route %s: backend %s: %w", r.Host, b.Name, err)
		}
		refs = append(refs, gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(b.Name), Port: ptr.To(gatewayv1.PortNumber(port))},
			Weight:                 ptr.To(int32(b.Weight)),
		}})
	}
	hostnames := []gatewayv1.Hostname{gatewayv1.Hostname(r.Host)}
	for _, a := range r.Aliases {
		hostnames = append(hostnames, gatewayv1.Hostname(a))
	}
	var filters []gatewayv1.HTTPRouteFilter
	if r.UpstreamHost != "" {
		filters = append(filters, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterURLRewrite,
			URLRewrite: &gatewayv1.HTTPURLRewriteFilter{Hostname: ptr.To(gatewayv1.PreciseHostname(r.UpstreamHost))}})
	}
	var gen int64
	var dropped []string // backends the route had and no longer has
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dropped = nil
		cur, err := p.route(ctx, r.Host)
		if err != nil && !errors.Is(err, traffic.ErrNoRoute) {
			return err
		}
		if cur == nil {
			cur = &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: p.namespace, Name: p.routeName(r.Host), Labels: map[string]string{ManagedBy: "true"}}}
			cur.Spec.ParentRefs = []gatewayv1.ParentReference{p.parent}
			cur.Spec.Hostnames = hostnames
			cur.Spec.Rules = withPins([]gatewayv1.HTTPRouteRule{{BackendRefs: refs, Filters: filters}}, r.AllowPin, refs)
			if err := p.c.Create(ctx, cur); err != nil {
				return err
			}
			gen = cur.Generation
			return nil
		}
		rule, err := switched(cur)
		if err != nil {
			cur.Spec.Rules = append(cur.Spec.Rules, gatewayv1.HTTPRouteRule{})
			rule = &cur.Spec.Rules[len(cur.Spec.Rules)-1]
		}
		for _, b := range rule.BackendRefs {
			if _, keep := r.Backend(string(b.Name)); !keep {
				dropped = append(dropped, string(b.Name))
			}
		}
		rule.BackendRefs, rule.Filters = refs, filters
		cur.Spec.Rules = withPins(cur.Spec.Rules, r.AllowPin, refs)
		cur.Spec.Hostnames = hostnames
		if !p.attached(cur) {
			cur.Spec.ParentRefs = append(cur.Spec.ParentRefs, p.parent)
		}
		if err := p.c.Update(ctx, cur); err != nil {
			return err
		}
		gen = cur.Generation
		return nil
	})
	if err != nil {
		return fmt.Errorf("route %s: %w", r.Host, err)
	}
	if err := p.accepted(ctx, r.Host, gen, r.Weights()); err != nil {
		return err
	}
	return p.collect(ctx, dropped)
}

// collect deletes the Services (and EndpointSlices) upshift made for
// backends a route has dropped, once the implementation has accepted the
// route without them and no route of the namespace refers to them: a
// retired blue leaves nothing behind.
func (p *Provider) collect(ctx context.Context, dropped []string) error {
	if len(dropped) == 0 {
		return nil
	}
	var routes gatewayv1.HTTPRouteList
	if err := p.c.List(ctx, &routes, client.InNamespace(p.namespace)); err != nil {
		return err
	}
	used := map[string]bool{}
	for _, rt := range routes.Items {
		for _, rule := range rt.Spec.Rules {
			for _, b := range rule.BackendRefs {
				if b.Namespace == nil || string(*b.Namespace) == p.namespace {
					used[string(b.Name)] = true
				}
			}
		}
	}
	for _, name := range dropped {
		if used[name] {
			continue
		}
		var svc corev1.Service
		if err := p.c.Get(ctx, client.ObjectKey{Namespace: p.namespace, Name: name}, &svc); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		if svc.Labels[ManagedBy] != "true" {
			continue // the user's own
		}
		if err := p.c.Delete(ctx, &svc); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Service %s/%s, which no route uses: %w", p.namespace, name, err)
		}
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: p.namespace, Name: name + "-upshift"}}
		if err := p.c.Delete(ctx, es); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting EndpointSlice %s/%s: %w", p.namespace, es.Name, err)
		}
	}
	return nil
}

// PinHeader is the header whose value names the backend a tester
// reaches while the route allows pinning: one rule per backend matching
// it, which any Gateway API implementation follows (header matches are
// core). Anyone who can send it reaches that backend: it needs no secret.
const PinHeader = "X-Upshift-Backend"

// PinHeader names the header that pins a request to a backend.
func (p *Provider) PinHeader() string { return PinHeader }

// isPin says whether a rule is one of upshift's pin rules.
func isPin(rule gatewayv1.HTTPRouteRule) bool {
	return len(rule.Matches) == 1 && len(rule.Matches[0].Headers) == 1 && string(rule.Matches[0].Headers[0].Name) == PinHeader
}

// withPins replaces upshift's pin rules of a route: one per backend when
// pinning is allowed, none otherwise; the user's rules stay.
func withPins(rules []gatewayv1.HTTPRouteRule, allow bool, refs []gatewayv1.HTTPBackendRef) []gatewayv1.HTTPRouteRule {
	var out []gatewayv1.HTTPRouteRule
	for _, rule := range rules {
		if !isPin(rule) {
			out = append(out, rule)
		}
	}
	if !allow {
		return out
	}
	for _, ref := range refs {
		ref.Weight = ptr.To(int32(1))
		out = append(out, gatewayv1.HTTPRouteRule{
			Matches:     []gatewayv1.HTTPRouteMatch{{Headers: []gatewayv1.HTTPHeaderMatch{{Type: ptr.To(gatewayv1.HeaderMatchExact), Name: PinHeader, Value: string(ref.Name)}}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{ref},
		})
	}
	return out
}

func (p *Provider) attached(r *gatewayv1.HTTPRoute) bool {
	for _, ref := range r.Spec.ParentRefs {
		if p.sameParent(ref, r.Namespace) {
			return true
		}
	}
	return false
}

// ensureService makes the Service named after a backend reach its URL and
// returns the Service's port. A Service upshift did not make is used as
// it is.
func (p *Provider) ensureService(ctx context.Context, b traffic.Backend) (int32, error) {
	u, err := url.Parse(b.URL)
	if err != nil {
		return 0, err
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if s := u.Port(); s != "" {
		port, _ = strconv.Atoi(s)
	}
	sp := corev1.ServicePort{Name: u.Scheme, Port: int32(port), TargetPort: intstr.FromInt32(int32(port)), Protocol: corev1.ProtocolTCP, AppProtocol: ptr.To(u.Scheme)}
	want := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: p.namespace, Name: b.Name, Labels: map[string]string{ManagedBy: "true"}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{sp}}}
	ip := net.ParseIP(u.Hostname())
	if ip != nil && (ip.IsLoopback() || ip.IsLinkLocalUnicast()) {
		// The API server refuses these in an EndpointSlice; an
		// ExternalName holds them (a local fleet's ingresses are on
		// loopback).
		ip = nil
	}
	if ip == nil {
		want.Spec.Type, want.Spec.ExternalName = corev1.ServiceTypeExternalName, u.Hostname()
	} else {
		want.Spec.Type, want.Spec.ClusterIP = corev1.ServiceTypeClusterIP, corev1.ClusterIPNone
	}
	var cur corev1.Service
	err = p.c.Get(ctx, client.ObjectKeyFromObject(&want), &cur)
	switch {
	case apierrors.IsNotFound(err):
		if err := p.c.Create(ctx, &want); err != nil {
			return 0, err
		}
	case err != nil:
		return 0, err
	case cur.Labels[ManagedBy] != "true":
		return int32(port), nil // the user's own Service
	case cur.Spec.Type != want.Spec.Type || cur.Spec.ExternalName != want.Spec.ExternalName || len(cur.Spec.Ports) != 1 || cur.Spec.Ports[0].Port != sp.Port:
		if err := p.c.Delete(ctx, &cur); err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
		if err := p.c.Create(ctx, &want); err != nil {
			return 0, err
		}
	}
	if ip == nil {
		return int32(port), nil
	}
	family := discoveryv1.AddressTypeIPv4
	if ip.To4() == nil {
		family = discoveryv1.AddressTypeIPv6
	}
	es := discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.namespace, Name: b.Name + "-upshift", Labels: map[string]string{
			discoveryv1.LabelServiceName: b.Name, discoveryv1.LabelManagedBy: "upshift.dev", ManagedBy: "true"}},
		AddressType: family,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(sp.Name), Port: ptr.To(sp.Port), Protocol: ptr.To(corev1.ProtocolTCP), AppProtocol: sp.AppProtocol}},
	}
	var curES discoveryv1.EndpointSlice
	switch err := p.c.Get(ctx, client.ObjectKeyFromObject(&es), &curES); {
	case apierrors.IsNotFound(err):
		return int32(port), p.c.Create(ctx, &es)
	case err != nil:
		return 0, err
	case curES.AddressType == es.AddressType && equality.Semantic.DeepEqual(curES.Endpoints, es.Endpoints) &&
		equality.Semantic.DeepEqual(curES.Ports, es.Ports) && equality.Semantic.DeepEqual(curES.Labels, es.Labels):
		return int32(port), nil // as it should be: no write, no event for the implementation
	default:
		curES.AddressType, curES.Endpoints, curES.Ports, curES.Labels = es.AddressType, es.Endpoints, es.Ports, es.Labels
		return int32(port), p.c.Update(ctx, &curES)
	}
}
