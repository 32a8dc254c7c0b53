package gatewayapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"upshift.dev/upshift/internal/providers/traffic"
	trafficgatewayapi "upshift.dev/upshift/internal/providers/traffic/gatewayapi"
)

// ControllerName is what a GatewayClass names to be implemented by
// upshift's gateway.
const ControllerName = "upshift.dev/gateway"

// Gateway is the data plane the follower programs: upshift's gateway.
type Gateway interface {
	ApplyRoute(traffic.Route) error
	DeleteRoute(host string) error
}

// Follower programs a gateway from the Gateway API objects of one class.
type Follower struct {
	Client client.WithWatch
	// Class is the GatewayClass whose Gateways the gateway implements.
	Class   string
	Gateway Gateway
	// Resync is how often everything is read again even without events
	// (default 10 s).
	Resync time.Duration

	applied map[string]traffic.Route // by host, as last applied
}

// Run follows the objects until ctx ends: a change to a class, Gateway,
// route, Service or EndpointSlice is served within moments.
func (f *Follower) Run(ctx context.Context) error {
	if f.Resync == 0 {
		f.Resync = 10 * time.Second
	}
	changed := make(chan struct{}, 1)
	for _, list := range []client.ObjectList{&gatewayv1.GatewayClassList{}, &gatewayv1.GatewayList{}, &gatewayv1.HTTPRouteList{}, &corev1.ServiceList{}, &discoveryv1.EndpointSliceList{}} {
		go f.watch(ctx, list, changed)
	}
	for {
		if err := f.Reconcile(ctx); err != nil && ctx.Err() == nil {
			slog.Warn("gateway: following Gateway API objects", "class", f.Class, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			// Let a burst of events settle into one pass.
			time.Sleep(20 * time.Millisecond)
		case <-time.After(f.Resync):
		}
	}
}

// watch signals changed on every event of a kind, watching again when
// the API server ends a watch.
func (f *Follower) watch(ctx context.Context, list client.ObjectList, changed chan<- struct{}) {
	for ctx.Err() == nil {
		w, err := f.Client.Watch(ctx, list)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				continue
			}
		}
		for range w.ResultChan() {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
		w.Stop()
	}
}

// Reconcile serves the routes attached to the class's Gateways as they
// are now, removes those that are gone, and writes status.
func (f *Follower) Reconcile(ctx context.Context) error {
	if f.applied == nil {
		f.applied = map[string]traffic.Route{}
	}
	gateways, err := f.gateways(ctx)
	if err != nil {
		return err
	}
	var routes gatewayv1.HTTPRouteList
	if err := f.Client.List(ctx, &routes); err != nil {
		return err
	}
	served := map[string]bool{}
	var errs []error
	for i := range routes.Items {
		r := &routes.Items[i]
		var parents []gatewayv1.ParentReference
		for _, ref := range r.Spec.ParentRefs {
			if gateways[parentKey(ref, r.Namespace)] {
				parents = append(parents, ref)
			}
		}
		if len(parents) == 0 {
			continue
		}
		accepted, resolved := f.serve(ctx, r, served)
		if err := f.writeStatus(ctx, r, parents, accepted, resolved); err != nil {
			errs = append(errs, err)
		}
	}
	for host := range f.applied {
		if !served[host] {
			if err := f.Gateway.DeleteRoute(host); err != nil && !errors.Is(err, traffic.ErrNoRoute) {
				errs = append(errs, err)
				continue
			}
			delete(f.applied, host)
		}
	}
	return errors.Join(errs...)
}

// gateways returns the Gateways of the class, by namespace/name, and
// marks the class and them accepted.
func (f *Follower) gateways(ctx context.Context) (map[string]bool, error) {
	var class gatewayv1.GatewayClass
	if err := f.Client.Get(ctx, client.ObjectKey{Name: f.Class}, &class); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if class.Spec.ControllerName != ControllerName {
		return nil, fmt.Errorf("GatewayClass %s names controller %s, not %s", f.Class, class.Spec.ControllerName, ControllerName)
	}
	if setCondition(&class.Status.Conditions, string(gatewayv1.GatewayClassConditionStatusAccepted), metav1.ConditionTrue, string(gatewayv1.GatewayClassReasonAccepted), "upshift's gateway implements this class", class.Generation) {
		if err := f.Client.Status().Update(ctx, &class); err != nil && !apierrors.IsConflict(err) {
			return nil, err
		}
	}
	var list gatewayv1.GatewayList
	if err := f.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for i := range list.Items {
		g := &list.Items[i]
		if string(g.Spec.GatewayClassName) != f.Class {
			continue
		}
		out[g.Namespace+"/"+g.Name] = true
		a := setCondition(&g.Status.Conditions, string(gatewayv1.GatewayConditionAccepted), metav1.ConditionTrue, string(gatewayv1.GatewayReasonAccepted), "served by upshift's gateway", g.Generation)
		p := setCondition(&g.Status.Conditions, string(gatewayv1.GatewayConditionProgrammed), metav1.ConditionTrue, string(gatewayv1.GatewayReasonProgrammed), "routes are served by upshift's gateway", g.Generation)
		if a || p {
			if err := f.Client.Status().Update(ctx, g); err != nil && !apierrors.IsConflict(err) {
				return nil, err
			}
		}
	}
	return out, nil
}

func parentKey(ref gatewayv1.ParentReference, routeNS string) string {
	if ref.Group != nil && *ref.Group != gatewayv1.GroupName || ref.Kind != nil && *ref.Kind != "Gateway" {
		return ""
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	return ns + "/" + string(ref.Name)
}

// condition is one status condition to write on a route.
type condition struct {
	status         metav1.ConditionStatus
	reason, detail string
}

// serve applies a route to the gateway and says what to report.
func (f *Follower) serve(ctx context.Context, r *gatewayv1.HTTPRoute, served map[string]bool) (accepted, resolved condition) {
	ok := condition{metav1.ConditionTrue, "Accepted", "served by upshift's gateway"}
	refsOK := condition{metav1.ConditionTrue, "ResolvedRefs", "every backendRef resolved"}
	unsupported := func(msg string) (condition, condition) {
		return condition{metav1.ConditionFalse, "UnsupportedValue", msg}, refsOK
	}
	if len(r.Spec.Hostnames) == 0 {
		return unsupported("upshift's gateway routes by hostname: give the route hostnames")
	}
	// What the gateway serves for these hosts stays until a valid version
	// of the route replaces it.
	for _, h := range r.Spec.Hostnames {
		served[string(h)] = true
	}
	var rule *gatewayv1.HTTPRouteRule
	for i := range r.Spec.Rules {
		if len(r.Spec.Rules[i].Matches) == 0 || isCatchAll(r.Spec.Rules[i].Matches) {
			rule = &r.Spec.Rules[i]
			break
		}
	}
	if rule == nil {
		return unsupported("upshift's gateway follows the rule without matches (or matching every path): the route has none")
	}
	want := traffic.Route{Host: string(r.Spec.Hostnames[0]), UpstreamHost: trafficgatewayapi.UpstreamHost(rule)}
	for _, h := range r.Spec.Hostnames[1:] {
		want.Aliases = append(want.Aliases, string(h))
	}
	for _, b := range rule.BackendRefs {
		if b.Namespace != nil && string(*b.Namespace) != r.Namespace {
			return ok, condition{metav1.ConditionFalse, string(gatewayv1.RouteReasonRefNotPermitted), fmt.Sprintf("backendRef %s is in namespace %s: upshift's gateway follows no cross-namespace references", b.Name, *b.Namespace)}
		}
	}
	backends, err := trafficgatewayapi.Backends(ctx, f.Client, r.Namespace, rule)
	if err != nil {
		return ok, condition{metav1.ConditionFalse, string(gatewayv1.RouteReasonBackendNotFound), err.Error()}
	}
	want.Backends = backends
	// Rules that send one exact header value to one backend become header
	// routes; a backend only they name joins the route at weight 0.
	for i := range r.Spec.Rules {
		hr, ref, follows := headerRoutes(&r.Spec.Rules[i])
		if !follows {
			continue
		}
		if _, have := want.Backend(string(ref.Name)); !have {
			u, err := trafficgatewayapi.ServiceURL(ctx, f.Client, r.Namespace, ref.BackendObjectReference)
			if err != nil {
				return ok, condition{metav1.ConditionFalse, string(gatewayv1.RouteReasonBackendNotFound), err.Error()}
			}
			want.Backends = append(want.Backends, traffic.Backend{Name: string(ref.Name), URL: u})
		}
		want.HeaderRoutes = append(want.HeaderRoutes, hr...)
	}
	if err := want.Weights().Validate(); err != nil { // header routes' backends join at 0
		return unsupported("the backendRefs' weights are all 0: upshift's gateway needs one with weight")
	}
	if prev, seen := f.applied[want.Host]; seen && fmt.Sprint(prev) == fmt.Sprint(want) {
		return ok, refsOK
	}
	if err := f.Gateway.ApplyRoute(want); err != nil {
		return unsupported(err.Error())
	}
	f.applied[want.Host] = want
	return ok, refsOK
}

// headerRoutes reads a rule that sends requests with one exact header
// value (per match, on any path) to a single backend in the route's
// namespace; other rules with matches are not followed.
func headerRoutes(rule *gatewayv1.HTTPRouteRule) ([]traffic.HeaderRoute, gatewayv1.HTTPBackendRef, bool) {
	if len(rule.Matches) == 0 || len(rule.BackendRefs) != 1 || rule.BackendRefs[0].Namespace != nil {
		return nil, gatewayv1.HTTPBackendRef{}, false
	}
	ref := rule.BackendRefs[0]
	var out []traffic.HeaderRoute
	for _, m := range rule.Matches {
		if len(m.Headers) != 1 || len(m.QueryParams) > 0 || m.Method != nil || !isCatchAll([]gatewayv1.HTTPRouteMatch{{Path: m.Path}}) {
			return nil, ref, false
		}
		h := m.Headers[0]
		if ptr.Deref(h.Type, gatewayv1.HeaderMatchExact) != gatewayv1.HeaderMatchExact {
			return nil, ref, false
		}
		out = append(out, traffic.HeaderRoute{Header: string(h.Name), Value: h.Value, Backend: string(ref.Name)})
	}
	return out, ref, true
}

// isCatchAll says whether matches are only the path prefix "/", which
// every request matches.
func isCatchAll(m []gatewayv1.HTTPRouteMatch) bool {
	for _, x := range m {
		if len(x.Headers) > 0 || len(x.QueryParams) > 0 || x.Method != nil {
			return false
		}
		if x.Path != nil && (ptr.Deref(x.Path.Type, gatewayv1.PathMatchPathPrefix) != gatewayv1.PathMatchPathPrefix || ptr.Deref(x.Path.Value, "/") != "/") {
			return false
		}
	}
	return true
}

// writeStatus sets the route's status for each of the class's Gateways it
// attaches to, leaving other implementations' entries alone; nothing is
// written when nothing changed.
func (f *Follower) writeStatus(ctx context.Context, r *gatewayv1.HTTPRoute, parents []gatewayv1.ParentReference, accepted, resolved condition) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur gatewayv1.HTTPRoute
		if err := f.Client.Get(ctx, client.ObjectKeyFromObject(r), &cur); err != nil {
			return client.IgnoreNotFound(err)
		}
		if cur.Generation != r.Generation {
			return nil // changed since: the next pass reports on it
		}
		changed := false
		for _, ref := range parents {
			i := slices.IndexFunc(cur.Status.Parents, func(ps gatewayv1.RouteParentStatus) bool {
				return ps.ControllerName == ControllerName && parentKey(ps.ParentRef, cur.Namespace) == parentKey(ref, cur.Namespace) && ptr.Deref(ps.ParentRef.SectionName, "") == ptr.Deref(ref.SectionName, "")
			})
			if i < 0 {
				cur.Status.Parents = append(cur.Status.Parents, gatewayv1.RouteParentStatus{ParentRef: ref, ControllerName: ControllerName})
				i, changed = len(cur.Status.Parents)-1, true
			}
			ps := &cur.Status.Parents[i]
			if setCondition(&ps.Conditions, string(gatewayv1.RouteConditionAccepted), accepted.status, accepted.reason, accepted.detail, cur.Generation) {
				changed = true
			}
			if setCondition(&ps.Conditions, string(gatewayv1.RouteConditionResolvedRefs), resolved.status, resolved.reason, resolved.detail, cur.Generation) {
				changed = true
			}
		}
		if !changed {
			return nil
		}
		return f.Client.Status().Update(ctx, &cur)
	})
}

// setCondition sets a condition and says whether anything changed.
func setCondition(conds *[]metav1.Condition, t string, status metav1.ConditionStatus, reason, msg string, gen int64) bool {
	if c := meta.FindStatusCondition(*conds, t); c != nil && c.Status == status && c.Reason == reason && c.Message == msg && c.ObservedGeneration == gen {
		return false
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
	return true
}
