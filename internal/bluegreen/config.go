package bluegreen

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/dns"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/statesync"
)

// NewTraffic builds the run's traffic provider. Secrets are read from
// their files here and kept out of everything the run records.
func NewTraffic(t v1alpha1.TrafficSpec) (traffic.Provider, error) {
	switch t.Provider {
	case v1alpha1.TrafficGateway:
		if t.Gateway == nil {
			return nil, fmt.Errorf("spec.blueGreen.traffic.gateway is required with provider gateway")
		}
		token, err := readSecret(t.Gateway.TokenFile, "spec.blueGreen.traffic.gateway.tokenFile")
		if err != nil {
			return nil, err
		}
		return trafficgateway.New(strings.TrimSuffix(t.Gateway.AdminURL, "/"), token), nil
	case v1alpha1.TrafficDNS:
		d := t.DNS
		if d == nil {
			return nil, fmt.Errorf("spec.blueGreen.traffic.dns is required with provider dns")
		}
		secret, err := readSecret(d.KeySecretFile, "spec.blueGreen.traffic.dns.keySecretFile")
		if err != nil {
			return nil, err
		}
		cfg := dns.Config{Server: d.Server, Zone: d.Zone, KeyName: d.KeyName, KeyAlgorithm: d.KeyAlgorithm, KeySecret: secret, TTL: d.TTL, SwitchTTL: d.SwitchTTL, Targets: map[string]dns.Target{}}
		for name, tg := range d.Targets {
			cfg.Targets[name] = dns.Target{A: tg.A, CNAME: tg.CNAME}
		}
		return dns.New(cfg)
	}
	return nil, fmt.Errorf("spec.blueGreen.traffic.provider %q: use %s or %s", t.Provider, v1alpha1.TrafficGateway, v1alpha1.TrafficDNS)
}

func readSecret(path, field string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s is required", field)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", field, path)
	}
	return s, nil
}

// syncOptions turns the sync spec into statesync options, resolving kinds
// (resource[.group]) against blue's API.
func syncOptions(s v1alpha1.SyncSpec, blue *rest.Config) (statesync.Options, error) {
	opts := statesync.Options{Namespaces: s.Namespaces}
	if len(s.Kinds) == 0 {
		return opts, nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(blue)
	if err != nil {
		return opts, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	for _, k := range s.Kinds {
		resource, group, _ := strings.Cut(k, ".")
		gvr, err := mapper.ResourceFor(schema.GroupVersionResource{Group: group, Resource: resource})
		if err != nil {
			return opts, fmt.Errorf("spec.blueGreen.sync.kinds: %q is not a resource blue serves (write resource.group, e.g. deployments.apps): %w", k, err)
		}
		opts.Kinds = append(opts.Kinds, gvr)
	}
	return opts, nil
}
