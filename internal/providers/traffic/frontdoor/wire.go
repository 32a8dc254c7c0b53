package frontdoor

import (
	"fmt"
	"net/url"
	"strconv"

	"upshift.dev/upshift/internal/providers/traffic"
)

// APIVersion is the Microsoft.Cdn api-version spoken: the newest stable
// one of Azure's published spec.
const APIVersion = "2025-06-01"

// DNSSuffix of Front Door endpoints' default host names; the emulator
// serves origin group G at G.azurefd.net.
const DNSSuffix = ".azurefd.net"

// Enabled states of an origin.
const (
	Enabled  = "Enabled"
	Disabled = "Disabled"
)

// defaultWeight is Front Door's weight of an origin that names none.
const defaultWeight = 50

// OriginGroup is an AFDOriginGroup, as the spec names its properties.
type OriginGroup struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Properties *OriginGroupProps `json:"properties,omitempty"`
}

// OriginGroupProps are an origin group's properties.
type OriginGroupProps struct {
	LoadBalancingSettings *LoadBalancing `json:"loadBalancingSettings,omitempty"`
	HealthProbeSettings   *HealthProbe   `json:"healthProbeSettings,omitempty"`
	SessionAffinityState  string         `json:"sessionAffinityState,omitempty"`
	// Read-only: Azure writes them.
	ProvisioningState string `json:"provisioningState,omitempty"`
	DeploymentStatus  string `json:"deploymentStatus,omitempty"`
}

// LoadBalancing is how many health samples decide an origin's health.
type LoadBalancing struct {
	SampleSize                      *int32 `json:"sampleSize,omitempty"`
	SuccessfulSamplesRequired       *int32 `json:"successfulSamplesRequired,omitempty"`
	AdditionalLatencyInMilliseconds *int32 `json:"additionalLatencyInMilliseconds,omitempty"`
}

// HealthProbe is how Front Door probes the origins.
type HealthProbe struct {
	ProbePath              string `json:"probePath,omitempty"`
	ProbeRequestType       string `json:"probeRequestType,omitempty"`
	ProbeProtocol          string `json:"probeProtocol,omitempty"`
	ProbeIntervalInSeconds *int32 `json:"probeIntervalInSeconds,omitempty"`
}

// Origin is an AFDOrigin.
type Origin struct {
	ID         string       `json:"id,omitempty"`
	Name       string       `json:"name,omitempty"`
	Type       string       `json:"type,omitempty"`
	Properties *OriginProps `json:"properties,omitempty"`
}

// OriginProps are an origin's properties.
type OriginProps struct {
	HostName         string `json:"hostName,omitempty"`
	HTTPPort         *int32 `json:"httpPort,omitempty"`
	HTTPSPort        *int32 `json:"httpsPort,omitempty"`
	OriginHostHeader string `json:"originHostHeader,omitempty"`
	Weight           *int32 `json:"weight,omitempty"`
	EnabledState     string `json:"enabledState,omitempty"`
	// Read-only: Azure writes them.
	OriginGroupName   string `json:"originGroupName,omitempty"`
	ProvisioningState string `json:"provisioningState,omitempty"`
	DeploymentStatus  string `json:"deploymentStatus,omitempty"`
}

// OriginList is AFDOrigins_ListByOriginGroup's answer.
type OriginList struct {
	Value    []Origin `json:"value"`
	NextLink string   `json:"nextLink,omitempty"`
}

// originUpdate is AFDOriginUpdateParameters: what a PATCH may change.
type originUpdate struct {
	Properties *OriginProps `json:"properties"`
}

// Shares turns the weights of the Enabled origins into percent that add
// up to 100 (traffic.Percents); Disabled ones get 0.
func Shares(origins []Origin) traffic.Weights {
	var shares []traffic.Share
	for _, o := range origins {
		shares = append(shares, traffic.Share{Name: o.Name, Weight: enabledWeight(o)})
	}
	return traffic.Percents(shares)
}

func enabledWeight(o Origin) int {
	if o.Properties == nil || o.Properties.EnabledState == Disabled {
		return 0
	}
	if o.Properties.Weight == nil {
		return defaultWeight
	}
	return int(*o.Properties.Weight)
}

// weightOf is the origin weight of a share in percent: ten times it, so
// that shares keep their ratio within Front Door's 1 to 1000; 0 is
// Disabled at weight 1.
func weightOf(percent int) (int32, string) {
	if percent <= 0 {
		return 1, Disabled
	}
	return int32(min(percent*10, 1000)), Enabled
}

// URL is where an origin answers: http on its httpPort unless it has
// only an httpsPort.
func (o Origin) URL() string {
	p := o.Properties
	if p == nil {
		return ""
	}
	if p.HTTPPort == nil && p.HTTPSPort != nil {
		return "https://" + hostPort(p.HostName, *p.HTTPSPort, 443)
	}
	port := int32(80)
	if p.HTTPPort != nil {
		port = *p.HTTPPort
	}
	return "http://" + hostPort(p.HostName, port, 80)
}

func hostPort(host string, port, def int32) string {
	if port == def {
		return host
	}
	return host + ":" + strconv.Itoa(int(port))
}

// originFor is the origin a backend is: its URL's host and port.
func originFor(b traffic.Backend, hostHeader string) (OriginProps, error) {
	u, err := url.Parse(b.URL)
	if err != nil || u.Hostname() == "" {
		return OriginProps{}, fmt.Errorf("backend %s: %q is not a URL", b.Name, b.URL)
	}
	props := OriginProps{HostName: u.Hostname(), OriginHostHeader: hostHeader}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if u.Port() != "" {
		if port, err = strconv.Atoi(u.Port()); err != nil || port < 1 || port > 65535 {
			return OriginProps{}, fmt.Errorf("backend %s: port %q is not 1 to 65535", b.Name, u.Port())
		}
	}
	p := int32(port)
	if u.Scheme == "https" {
		props.HTTPSPort = &p
	} else {
		props.HTTPPort = &p
	}
	weight, state := weightOf(b.Weight)
	props.Weight, props.EnabledState = &weight, state
	return props, nil
}
