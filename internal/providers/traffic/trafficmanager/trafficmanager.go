package trafficmanager

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azurearm"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Type names this provider in configuration.
const Type = v1alpha1.TrafficTrafficManager

const endpointField = "spec.blueGreen.traffic.trafficManager.armEndpoint"

// Provider manages the Traffic Manager profiles of one resource group.
type Provider struct {
	arm       *azurearm.REST
	group     string // /subscriptions/S/resourceGroups/G
	ttl       int64
	switchTTL int64
	// emulator: the local emulator takes host:port targets, which Azure
	// refuses.
	emulator bool
}

var (
	_ traffic.Provider   = (*Provider)(nil)
	_ traffic.Router     = (*Provider)(nil)
	_ traffic.TTLManager = (*Provider)(nil)
)

var relativeName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// profileName is the profile a host is: NAME.trafficmanager.net → NAME.
func profileName(host string) (string, error) {
	name, ok := strings.CutSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), DNSSuffix)
	if !ok || !relativeName.MatchString(name) {
		return "", fmt.Errorf("%q is not a Traffic Manager profile's DNS name: write NAME%s, where NAME (letters, digits, hyphens) is the profile", host, DNSSuffix)
	}
	return name, nil
}

// FromSpec builds the provider from a run's traffic spec: hosts.cluster,
// hosts.blue and hosts.green must be profiles' DNS names.
func FromSpec(spec v1alpha1.TrafficSpec) (traffic.Provider, error) {
	tm := spec.TrafficManager
	if tm == nil {
		return nil, fmt.Errorf("spec.blueGreen.traffic.trafficManager (subscriptionID, resourceGroup) is required with provider %s", Type)
	}
	for field, host := range map[string]string{"cluster": spec.Hosts.Cluster, "blue": spec.Hosts.Blue, "green": spec.Hosts.Green} {
		if _, err := profileName(host); err != nil {
			return nil, fmt.Errorf("spec.blueGreen.traffic.hosts.%s: %w", field, err)
		}
	}
	return New(*tm)
}

// New checks the configuration and opens ARM.
func New(tm v1alpha1.TrafficManagerTraffic) (*Provider, error) {
	switch {
	case tm.SubscriptionID == "":
		return nil, fmt.Errorf("spec.blueGreen.traffic.trafficManager.subscriptionID is required")
	case tm.ResourceGroup == "":
		return nil, fmt.Errorf("spec.blueGreen.traffic.trafficManager.resourceGroup is required")
	case strings.ContainsAny(tm.SubscriptionID+tm.ResourceGroup, "/?#"):
		return nil, fmt.Errorf("spec.blueGreen.traffic.trafficManager: subscriptionID and resourceGroup cannot hold / ? or #")
	case tm.TTL < 0 || tm.SwitchTTL < 0:
		return nil, fmt.Errorf("spec.blueGreen.traffic.trafficManager: ttl and switchTTL are seconds, not negative")
	}
	if err := azurearm.ValidateEndpoint(endpointField, tm.ARMEndpoint); err != nil {
		return nil, err
	}
	rest, err := azurearm.NewREST("upshift/trafficmanager", tm.ARMEndpoint, endpointField, APIVersion)
	if err != nil {
		return nil, fmt.Errorf("traffic manager: no Azure credentials (DefaultAzureCredential tries the environment, workload identity, managed identity and the Azure CLI): %w", err)
	}
	p := &Provider{arm: rest,
		group:     "/subscriptions/" + url.PathEscape(tm.SubscriptionID) + "/resourceGroups/" + url.PathEscape(tm.ResourceGroup),
		ttl:       orDefault(tm.TTL, 60),
		switchTTL: orDefault(tm.SwitchTTL, 10),
		emulator:  azurearm.IsLoopback(tm.ARMEndpoint)}
	return p, nil
}

func orDefault(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

func (p *Provider) profileURL(name string) string {
	return p.group + "/providers/Microsoft.Network/trafficmanagerprofiles/" + url.PathEscape(name)
}

func (p *Provider) endpointURL(profile, endpoint string) string {
	return p.profileURL(profile) + "/" + ExternalEndpoints + "/" + url.PathEscape(endpoint)
}

// call sends one ARM request; out, when not nil, gets the answer.
func (p *Provider) call(ctx context.Context, method, path, what string, body, out any) error {
	return p.arm.Call(ctx, method, path, what, body, out)
}

// profile reads the profile a host is; traffic.ErrNoRoute when missing.
func (p *Provider) profile(ctx context.Context, host string) (string, *Profile, error) {
	name, err := profileName(host)
	if err != nil {
		return "", nil, err
	}
	var prof Profile
	if err := p.call(ctx, http.MethodGet, p.profileURL(name), "reading Traffic Manager profile "+name, nil, &prof); err != nil {
		if azurearm.NotFound(err) {
			return name, nil, fmt.Errorf("traffic manager profile %s: %w", name, traffic.ErrNoRoute)
		}
		return name, nil, err
	}
	if prof.Properties == nil {
		return name, nil, fmt.Errorf("traffic manager profile %s has no properties", name)
	}
	if m := prof.Properties.TrafficRoutingMethod; m != Weighted {
		return name, nil, fmt.Errorf("traffic manager profile %s routes by %s: upshift moves traffic with weights, so use the Weighted routing method", name, m)
	}
	return name, &prof, nil
}

// Weights reads the share of each endpoint: Disabled ones have 0.
func (p *Provider) Weights(ctx context.Context, route string) (traffic.Weights, error) {
	_, prof, err := p.profile(ctx, route)
	if err != nil {
		return nil, err
	}
	return traffic.Weights(Shares(prof.Properties.Endpoints)), nil
}

// Switch sets each named endpoint's weight in one write of the whole
// profile (as Azure's Profile-PUT-WithEndpoints example does): the change
// is atomic, so users never meet a profile half switched, with no
// endpoint enabled, and two writers leave one's weights, never a mix.
// An endpoint that loses all traffic is Disabled (Traffic Manager has no
// weight 0).
func (p *Provider) Switch(ctx context.Context, route string, w traffic.Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	name, prof, err := p.profile(ctx, route)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, e := range prof.Properties.Endpoints {
		have[e.Name] = true
	}
	for _, b := range slices.Sorted(maps.Keys(w)) {
		if !have[b] {
			return fmt.Errorf("traffic manager profile %s has no endpoint %s", name, b)
		}
	}
	for i, e := range prof.Properties.Endpoints {
		v, named := w[e.Name]
		if !named {
			continue
		}
		props := *e.Properties
		props.EndpointStatus, props.Weight = Enabled, to.Ptr(int64(v))
		if v == 0 {
			// The weight stays what it was, within Azure's 1 to 1000.
			props.EndpointStatus, props.Weight = Disabled, to.Ptr(int64(1))
			if e.Properties.Weight != nil && *e.Properties.Weight >= 1 {
				props.Weight = e.Properties.Weight
			}
		}
		prof.Properties.Endpoints[i].Properties = &props
	}
	if err := p.call(ctx, http.MethodPut, p.profileURL(name), fmt.Sprintf("switching profile %s to %s", name, w), prof.forPut(), nil); err != nil {
		return err
	}
	got, err := p.Weights(ctx, route)
	if err != nil {
		return err
	}
	for b, v := range w {
		if got[b] != v {
			return fmt.Errorf("traffic manager profile %s answers %s after the switch to %s", name, got, w)
		}
	}
	return nil
}

// Route reads a profile as a route: its endpoints as backends.
func (p *Provider) Route(ctx context.Context, host string) (traffic.Route, error) {
	_, prof, err := p.profile(ctx, host)
	if err != nil {
		return traffic.Route{}, err
	}
	r := prof.Route(host)
	return r, nil
}

// target is a backend's endpoint target: its URL's host. Azure takes a
// host name or an IP address, so a port is refused there (the profile
// checks one port for all endpoints); the emulator takes host:port.
func (p *Provider) target(b traffic.Backend) (string, error) {
	u, err := url.Parse(b.URL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("backend %s: %q is not a URL", b.Name, b.URL)
	}
	port := u.Port()
	if port == "" || p.emulator || (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		if p.emulator {
			return u.Host, nil
		}
		return u.Hostname(), nil
	}
	return "", fmt.Errorf("backend %s answers at %s: a Traffic Manager endpoint is a host name or IP address on the profile's port (80 or 443), not host:port", b.Name, b.URL)
}

// ApplyRoute makes the profile a host names hold exactly the route's
// backends: a missing profile is created (Weighted, health checks on the
// route's health path with its upstream Host), endpoints are written
// enabled-first, and endpoints not in the route are deleted last.
func (p *Provider) ApplyRoute(ctx context.Context, r traffic.Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	name, prof, err := p.profile(ctx, r.Host)
	if err != nil && !errors.Is(err, traffic.ErrNoRoute) {
		return err
	}
	if prof == nil {
		if prof, err = p.create(ctx, name, r); err != nil {
			return err
		}
	}
	order := slices.Clone(r.Backends)
	slices.SortStableFunc(order, func(a, b traffic.Backend) int { return b.Weight - a.Weight })
	for _, b := range order {
		target, err := p.target(b)
		if err != nil {
			return fmt.Errorf("route %s: %w", r.Host, err)
		}
		props := &EndpointProps{Target: target, EndpointStatus: Enabled, Weight: to.Ptr(int64(b.Weight))}
		if b.Weight == 0 {
			props.EndpointStatus, props.Weight = Disabled, to.Ptr(int64(1))
		}
		if err := p.call(ctx, http.MethodPut, p.endpointURL(name, b.Name), fmt.Sprintf("writing endpoint %s of profile %s", b.Name, name),
			Endpoint{Name: b.Name, Type: ExternalEndpointType, Properties: props}, nil); err != nil {
			return err
		}
	}
	for _, e := range prof.Properties.Endpoints {
		if _, keep := r.Backend(e.Name); keep {
			continue
		}
		if err := p.call(ctx, http.MethodDelete, p.endpointURL(name, e.Name), fmt.Sprintf("deleting endpoint %s of profile %s", e.Name, name), nil, nil); err != nil && !azurearm.NotFound(err) {
			return err
		}
	}
	return nil
}

// create makes a Weighted profile for a route, without endpoints.
func (p *Provider) create(ctx context.Context, name string, r traffic.Route) (*Profile, error) {
	mc := &MonitorConfig{Protocol: "HTTP", Port: to.Ptr(int64(80)), Path: "/"}
	if len(r.Backends) > 0 {
		b := r.Backends[0]
		if b.HealthPath != "" {
			mc.Path = b.HealthPath
		}
		if u, err := url.Parse(b.URL); err == nil {
			if u.Scheme == "https" {
				mc.Protocol, mc.Port = "HTTPS", to.Ptr(int64(443))
			}
			if port, err := strconv.Atoi(u.Port()); err == nil {
				mc.Port = to.Ptr(int64(port))
			}
		}
	}
	if r.UpstreamHost != "" {
		mc.CustomHeaders = []Header{{Name: "host", Value: r.UpstreamHost}}
	}
	body := Profile{Location: "global", Properties: &ProfileProps{
		ProfileStatus: Enabled, TrafficRoutingMethod: Weighted,
		DNSConfig:     &DNSConfig{RelativeName: name, TTL: to.Ptr(p.ttl)},
		MonitorConfig: mc,
	}}
	var out Profile
	if err := p.call(ctx, http.MethodPut, p.profileURL(name), "creating Traffic Manager profile "+name, body, &out); err != nil {
		return nil, err
	}
	if out.Properties == nil {
		out.Properties = body.Properties
	}
	return &out, nil
}

// LowerTTL sets the profile's TTL to the switch TTL, keeping the one it
// had in a tag, and returns that TTL: how long resolvers may still hold
// the old answer.
func (p *Provider) LowerTTL(ctx context.Context, host string) (time.Duration, error) {
	name, prof, err := p.profile(ctx, host)
	if err != nil {
		return 0, err
	}
	cur := ttlOf(prof)
	if kept, ok := prof.Tags[TTLTag]; ok {
		// Lowered already (a run cut short): wait for the kept TTL again.
		old, _ := strconv.ParseInt(kept, 10, 64)
		return time.Duration(max(old, cur)) * time.Second, nil
	}
	if cur <= p.switchTTL {
		return 0, nil
	}
	tags := maps.Clone(prof.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	tags[TTLTag] = strconv.FormatInt(cur, 10)
	patch := profilePatch{Tags: tags, Properties: &ProfileProps{DNSConfig: &DNSConfig{TTL: to.Ptr(p.switchTTL)}}}
	if err := p.call(ctx, http.MethodPatch, p.profileURL(name), "lowering the TTL of profile "+name, patch, nil); err != nil {
		return 0, err
	}
	return time.Duration(cur) * time.Second, nil
}

// RestoreTTL puts back the TTL LowerTTL kept.
func (p *Provider) RestoreTTL(ctx context.Context, host string) error {
	name, prof, err := p.profile(ctx, host)
	if err != nil {
		return err
	}
	kept, ok := prof.Tags[TTLTag]
	if !ok {
		return nil
	}
	old, err := strconv.ParseInt(kept, 10, 64)
	if err != nil || old <= 0 {
		old = p.ttl
	}
	tags := maps.Clone(prof.Tags)
	delete(tags, TTLTag)
	patch := profilePatch{Tags: tags, Properties: &ProfileProps{DNSConfig: &DNSConfig{TTL: to.Ptr(old)}}}
	return p.call(ctx, http.MethodPatch, p.profileURL(name), "restoring the TTL of profile "+name, patch, nil)
}

// profilePatch changes a profile's tags (always sent: ARM replaces them
// whole, so an empty map clears them) and some properties.
type profilePatch struct {
	Tags       map[string]string `json:"tags"`
	Properties *ProfileProps     `json:"properties,omitempty"`
}

func ttlOf(prof *Profile) int64 {
	if prof.Properties.DNSConfig != nil && prof.Properties.DNSConfig.TTL != nil {
		return *prof.Properties.DNSConfig.TTL
	}
	return 0
}
