package trafficmanager

import (
	"strings"

	"upshift.dev/upshift/internal/providers/traffic"
)

// The REST shapes of Microsoft.Network/trafficmanagerprofiles, api-version
// 2022-04-01, as far as upshift reads and writes them. The emulator
// (internal/azureemu) serves the same shapes.

// APIVersion is the api-version spoken.
const APIVersion = "2022-04-01"

// DNSSuffix ends every profile's DNS name in Azure's public cloud.
const DNSSuffix = ".trafficmanager.net"

// ExternalEndpoints is the endpoint type upshift manages: a host name or
// IP address outside Azure's resource model (a cluster's ingress).
const (
	ExternalEndpoints    = "ExternalEndpoints"
	ExternalEndpointType = "Microsoft.Network/trafficManagerProfiles/externalEndpoints"
	ProfileType          = "Microsoft.Network/trafficManagerProfiles"
)

// Endpoint and profile states.
const (
	Enabled  = "Enabled"
	Disabled = "Disabled"
	Weighted = "Weighted"
)

// TTLTag on a profile keeps its TTL while upshift has lowered it for a
// switch.
const TTLTag = "upshift.dev-ttl"

// Profile is a Traffic Manager profile.
type Profile struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Location   string            `json:"location,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties *ProfileProps     `json:"properties,omitempty"`
}

// ProfileProps are a profile's properties.
type ProfileProps struct {
	ProfileStatus        string         `json:"profileStatus,omitempty"`
	TrafficRoutingMethod string         `json:"trafficRoutingMethod,omitempty"`
	DNSConfig            *DNSConfig     `json:"dnsConfig,omitempty"`
	MonitorConfig        *MonitorConfig `json:"monitorConfig,omitempty"`
	Endpoints            []Endpoint     `json:"endpoints,omitempty"`
}

// DNSConfig is the profile's DNS name and TTL.
type DNSConfig struct {
	RelativeName string `json:"relativeName,omitempty"`
	Fqdn         string `json:"fqdn,omitempty"`
	TTL          *int64 `json:"ttl,omitempty"`
}

// MonitorConfig is how Traffic Manager checks endpoints.
type MonitorConfig struct {
	ProfileMonitorStatus string   `json:"profileMonitorStatus,omitempty"`
	Protocol             string   `json:"protocol,omitempty"`
	Port                 *int64   `json:"port,omitempty"`
	Path                 string   `json:"path,omitempty"`
	CustomHeaders        []Header `json:"customHeaders,omitempty"`
}

// Header is a custom header of the health checks.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Endpoint is one endpoint of a profile.
type Endpoint struct {
	ID         string         `json:"id,omitempty"`
	Name       string         `json:"name,omitempty"`
	Type       string         `json:"type,omitempty"`
	Properties *EndpointProps `json:"properties,omitempty"`
}

// EndpointProps are an endpoint's properties.
type EndpointProps struct {
	Target                string `json:"target,omitempty"`
	EndpointStatus        string `json:"endpointStatus,omitempty"`
	Weight                *int64 `json:"weight,omitempty"`
	EndpointMonitorStatus string `json:"endpointMonitorStatus,omitempty"`
}

// HostHeader is the Host the profile's health checks send, if set.
func (p *Profile) HostHeader() string {
	if p.Properties == nil || p.Properties.MonitorConfig == nil {
		return ""
	}
	for _, h := range p.Properties.MonitorConfig.CustomHeaders {
		if strings.EqualFold(h.Name, "host") {
			return h.Value
		}
	}
	return ""
}

// Route is the profile as a route of host: its endpoints as backends at
// their share of the weights, checked on the profile's health path with
// its Host header.
func (p *Profile) Route(host string) traffic.Route {
	r := traffic.Route{Host: host, UpstreamHost: p.HostHeader()}
	scheme, health := "http", "/"
	if mc := p.Properties.MonitorConfig; mc != nil {
		if strings.EqualFold(mc.Protocol, "https") {
			scheme = "https"
		}
		if mc.Path != "" {
			health = mc.Path
		}
	}
	shares := Shares(p.Properties.Endpoints)
	for _, e := range p.Properties.Endpoints {
		if e.Properties == nil {
			continue
		}
		r.Backends = append(r.Backends, traffic.Backend{Name: e.Name, URL: scheme + "://" + e.Properties.Target, Weight: shares[e.Name], HealthPath: health})
	}
	return r
}

// Shares turns the weights of a profile's Enabled endpoints into percent
// that add up to 100 (traffic.Percents); Disabled endpoints get 0. With
// none enabled every share is 0.
func Shares(eps []Endpoint) map[string]int {
	var shares []traffic.Share
	for _, e := range eps {
		shares = append(shares, traffic.Share{Name: e.Name, Weight: int(max(enabledWeight(e), 0))})
	}
	return traffic.Percents(shares)
}

func enabledWeight(e Endpoint) int64 {
	if e.Properties == nil || e.Properties.EndpointStatus == Disabled {
		return 0
	}
	if e.Properties.Weight == nil {
		return 1 // Traffic Manager's default
	}
	return *e.Properties.Weight
}

// forPut is the profile as a client sends it back: without what the spec
// marks read-only (the FQDN Azure forms from the relative name).
func (p Profile) forPut() Profile {
	if p.Properties != nil && p.Properties.DNSConfig != nil {
		props, dns := *p.Properties, *p.Properties.DNSConfig
		dns.Fqdn = ""
		props.DNSConfig = &dns
		p.Properties = &props
	}
	return p
}
