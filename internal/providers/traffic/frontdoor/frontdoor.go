package frontdoor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azurearm"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Type names this provider in configuration.
const Type = v1alpha1.TrafficFrontDoor

const endpointField = "spec.blueGreen.traffic.frontDoor.armEndpoint"

// Provider writes the origins of one Front Door profile's origin groups.
type Provider struct {
	arm     *azurearm.REST
	profile string            // /subscriptions/S/resourceGroups/G/providers/Microsoft.Cdn/profiles/P
	groups  map[string]string // host → origin group, where not its first label
	// Poll is how often an operation under way is checked.
	Poll time.Duration
}

var (
	_ traffic.Provider = (*Provider)(nil)
	_ traffic.Router   = (*Provider)(nil)
)

// groupName is what Azure takes as an origin group's name.
var groupName = regexp.MustCompile(`^[a-zA-Z0-9]+(-*[a-zA-Z0-9])*$`)

// FromSpec builds the provider from a run's traffic spec.
func FromSpec(spec v1alpha1.TrafficSpec) (traffic.Provider, error) {
	if spec.FrontDoor == nil {
		return nil, fmt.Errorf("spec.blueGreen.traffic.frontDoor (subscriptionID, resourceGroup, profile) is required with provider %s", Type)
	}
	p, err := New(*spec.FrontDoor)
	if err != nil {
		return nil, err
	}
	for field, host := range map[string]string{"cluster": spec.Hosts.Cluster, "blue": spec.Hosts.Blue, "green": spec.Hosts.Green} {
		if host == "" || strings.Contains(host, v1alpha1.ClusterPlaceholder) {
			continue
		}
		if _, err := p.group(host); err != nil {
			return nil, fmt.Errorf("spec.blueGreen.traffic.hosts.%s: %w", field, err)
		}
	}
	return p, nil
}

// New checks the configuration and opens ARM.
func New(fd v1alpha1.FrontDoorTraffic) (*Provider, error) {
	switch {
	case fd.SubscriptionID == "":
		return nil, fmt.Errorf("spec.blueGreen.traffic.frontDoor.subscriptionID is required")
	case fd.ResourceGroup == "":
		return nil, fmt.Errorf("spec.blueGreen.traffic.frontDoor.resourceGroup is required")
	case fd.Profile == "":
		return nil, fmt.Errorf("spec.blueGreen.traffic.frontDoor.profile (the Front Door profile's name) is required")
	case strings.ContainsAny(fd.SubscriptionID+fd.ResourceGroup+fd.Profile, "/?#"):
		return nil, fmt.Errorf("spec.blueGreen.traffic.frontDoor: subscriptionID, resourceGroup and profile cannot hold / ? or #")
	}
	for host, g := range fd.OriginGroups {
		if !groupName.MatchString(g) || len(g) > 90 {
			return nil, fmt.Errorf("spec.blueGreen.traffic.frontDoor.originGroups[%s]: %q is not an origin group name (letters, digits and hyphens, at most 90)", host, g)
		}
	}
	if err := azurearm.ValidateEndpoint(endpointField, fd.ARMEndpoint); err != nil {
		return nil, err
	}
	rest, err := azurearm.NewREST("upshift/frontdoor", fd.ARMEndpoint, endpointField, APIVersion)
	if err != nil {
		return nil, fmt.Errorf("front door: no Azure credentials (DefaultAzureCredential tries the environment, workload identity, managed identity and the Azure CLI): %w", err)
	}
	groups := map[string]string{}
	for h, g := range fd.OriginGroups {
		groups[strings.ToLower(h)] = g
	}
	return &Provider{arm: rest, groups: groups, Poll: 2 * time.Second,
		profile: "/subscriptions/" + url.PathEscape(fd.SubscriptionID) + "/resourceGroups/" + url.PathEscape(fd.ResourceGroup) +
			"/providers/Microsoft.Cdn/profiles/" + url.PathEscape(fd.Profile)}, nil
}

// group is the origin group of a host: the one originGroups names, or
// the host's first label.
func (p *Provider) group(host string) (string, error) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if g, ok := p.groups[host]; ok {
		return g, nil
	}
	label, _, _ := strings.Cut(host, ".")
	if !groupName.MatchString(label) {
		return "", fmt.Errorf("%q: its first label is no origin group name (letters, digits and hyphens): name its origin group in frontDoor.originGroups", host)
	}
	return label, nil
}

func (p *Provider) groupURL(group string) string {
	return p.profile + "/originGroups/" + url.PathEscape(group)
}

func (p *Provider) originURL(group, origin string) string {
	return p.groupURL(group) + "/origins/" + url.PathEscape(origin)
}

// origins reads a host's origin group and its origins; traffic.ErrNoRoute
// when the group does not exist.
func (p *Provider) origins(ctx context.Context, host string) (string, *OriginGroup, []Origin, error) {
	group, err := p.group(host)
	if err != nil {
		return "", nil, nil, err
	}
	var og OriginGroup
	if err := p.arm.Call(ctx, http.MethodGet, p.groupURL(group), "reading origin group "+group, nil, &og); err != nil {
		if azurearm.NotFound(err) {
			return group, nil, nil, fmt.Errorf("front door origin group %s: %w", group, traffic.ErrNoRoute)
		}
		return group, nil, nil, err
	}
	var list OriginList
	if err := p.arm.Call(ctx, http.MethodGet, p.groupURL(group)+"/origins", "listing the origins of origin group "+group, nil, &list); err != nil {
		return group, &og, nil, err
	}
	return group, &og, list.Value, nil
}

// Weights reads a route's weights: each Enabled origin's share of the
// group's weight, in percent.
func (p *Provider) Weights(ctx context.Context, route string) (traffic.Weights, error) {
	group, _, origins, err := p.origins(ctx, route)
	if err != nil {
		return nil, err
	}
	if len(origins) == 0 {
		return nil, fmt.Errorf("front door origin group %s has no origin: %w", group, traffic.ErrNoRoute)
	}
	return Shares(origins), nil
}

// switchAttempts bounds how often a switch is written again when another
// writer's changes mixed with it.
const switchAttempts = 8

// Switch sets the weights of the origins w names, one origin at a time
// (Front Door changes one per request): those that gain traffic first, so
// that some origin is always enabled, then those that lose it. Front
// Door has no request that writes several origins at once, nor an ETag
// on origins, so two writers could leave a mix of their weights: the
// switch reads the group back and writes it again until it holds what it
// set, so that the group ends with one writer's weights.
func (p *Provider) Switch(ctx context.Context, route string, w traffic.Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	var got traffic.Weights
	for attempt := range switchAttempts {
		group, _, origins, err := p.origins(ctx, route)
		if err != nil {
			return err
		}
		now := Shares(origins)
		for _, name := range slices.Sorted(maps.Keys(w)) {
			if _, ok := now[name]; !ok {
				return fmt.Errorf("front door origin group %s has no origin %s", group, name)
			}
		}
		order := slices.Sorted(maps.Keys(w))
		slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(w[b]-now[b], w[a]-now[a]) })
		for _, name := range order {
			weight, state := weightOf(w[name])
			if o := origins[slices.IndexFunc(origins, func(o Origin) bool { return o.Name == name })]; o.Properties != nil &&
				o.Properties.EnabledState == state && o.Properties.Weight != nil && *o.Properties.Weight == weight {
				continue // already so
			}
			body := originUpdate{Properties: &OriginProps{Weight: &weight, EnabledState: state}}
			if err := p.arm.CallLRO(ctx, http.MethodPatch, p.originURL(group, name), fmt.Sprintf("setting origin %s of origin group %s to %d%%", name, group, w[name]), body, nil, p.Poll); err != nil {
				return err
			}
		}
		if got, err = p.Weights(ctx, route); err != nil {
			return err
		}
		if holds(got, w) {
			return nil
		}
		// Another writer changed origins meanwhile: wait a moment that
		// differs from its, then write again.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(p.Poll)*int64(attempt+2))) + p.Poll):
		}
	}
	return fmt.Errorf("front door origin group of %s answers %s after %d attempts to switch to %s: another writer is changing its origins", route, got, switchAttempts, w)
}

// holds says whether every weight w names reads back as set.
func holds(got, w traffic.Weights) bool {
	for b, v := range w {
		if got[b] != v {
			return false
		}
	}
	return true
}

// Route reads an origin group as a route: its origins as backends, probed
// on the group's probe path with the origins' host header.
func (p *Provider) Route(ctx context.Context, host string) (traffic.Route, error) {
	_, og, origins, err := p.origins(ctx, host)
	if err != nil {
		return traffic.Route{}, err
	}
	r := traffic.Route{Host: host}
	health := "/"
	if og.Properties != nil && og.Properties.HealthProbeSettings != nil && og.Properties.HealthProbeSettings.ProbePath != "" {
		health = og.Properties.HealthProbeSettings.ProbePath
	}
	shares := Shares(origins)
	for _, o := range origins {
		if o.Properties == nil {
			continue
		}
		if r.UpstreamHost == "" {
			r.UpstreamHost = o.Properties.OriginHostHeader
		}
		r.Backends = append(r.Backends, traffic.Backend{Name: o.Name, URL: o.URL(), Weight: shares[o.Name], HealthPath: health})
	}
	return r, nil
}

// ApplyRoute makes a host's origin group hold exactly the route's
// backends: a missing group is created (probed on the route's health
// path), origins are written heaviest first, and origins not in the route
// are deleted last.
func (p *Provider) ApplyRoute(ctx context.Context, r traffic.Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	group, _, origins, err := p.origins(ctx, r.Host)
	switch {
	case errors.Is(err, traffic.ErrNoRoute):
		if err := p.createGroup(ctx, group, r); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	order := slices.Clone(r.Backends)
	slices.SortStableFunc(order, func(a, b traffic.Backend) int { return b.Weight - a.Weight })
	for _, b := range order {
		props, err := originFor(b, r.UpstreamHost)
		if err != nil {
			return fmt.Errorf("route %s: %w", r.Host, err)
		}
		if err := p.arm.CallLRO(ctx, http.MethodPut, p.originURL(group, b.Name), fmt.Sprintf("writing origin %s of origin group %s", b.Name, group),
			Origin{Properties: &props}, nil, p.Poll); err != nil {
			return err
		}
	}
	for _, o := range origins {
		if _, keep := r.Backend(o.Name); keep {
			continue
		}
		if err := p.arm.CallLRO(ctx, http.MethodDelete, p.originURL(group, o.Name), fmt.Sprintf("deleting origin %s of origin group %s", o.Name, group), nil, nil, p.Poll); err != nil && !azurearm.NotFound(err) {
			return err
		}
	}
	return nil
}

// createGroup makes an origin group for a route, without origins.
func (p *Provider) createGroup(ctx context.Context, group string, r traffic.Route) error {
	probe := &HealthProbe{ProbePath: "/", ProbeRequestType: "GET", ProbeProtocol: "Http", ProbeIntervalInSeconds: ptr(int32(5))}
	if len(r.Backends) > 0 {
		if h := r.Backends[0].HealthPath; h != "" {
			probe.ProbePath = h
		}
		if strings.HasPrefix(r.Backends[0].URL, "https:") {
			probe.ProbeProtocol = "Https"
		}
	}
	body := OriginGroup{Properties: &OriginGroupProps{
		HealthProbeSettings:   probe,
		LoadBalancingSettings: &LoadBalancing{SampleSize: ptr(int32(4)), SuccessfulSamplesRequired: ptr(int32(3)), AdditionalLatencyInMilliseconds: ptr(int32(50))},
		SessionAffinityState:  Disabled,
	}}
	if r.Affinity {
		body.Properties.SessionAffinityState = Enabled
	}
	return p.arm.CallLRO(ctx, http.MethodPut, p.groupURL(group), "creating origin group "+group, body, nil, p.Poll)
}

func ptr[T any](v T) *T { return &v }
