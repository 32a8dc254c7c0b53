// Package fleet reads fleet files — YAML streams of upshift.dev/v1alpha1
// Cluster objects — strictly (unknown fields are errors), and turns each
// cluster into a client configuration.
package fleet

import (
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/yamlstream"
)

// Load reads and validates a fleet file.
func Load(path string) ([]v1alpha1.Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading fleet file: %w", err)
	}
	return Parse(path, data)
}

// Parse reads Cluster objects from a YAML stream.
func Parse(name string, data []byte) ([]v1alpha1.Cluster, error) {
	var out []v1alpha1.Cluster
	seen := map[string]bool{}
	err := yamlstream.Each(name, data, func(i int, doc []byte) error {
		var c v1alpha1.Cluster
		if err := yaml.UnmarshalStrict(doc, &c); err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if err := validate(&c); err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if seen[c.Name] {
			return fmt.Errorf("%s: document %d: cluster %q is listed twice", name, i, c.Name)
		}
		seen[c.Name] = true
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no Cluster objects", name)
	}
	return out, nil
}

func validate(c *v1alpha1.Cluster) error {
	if c.APIVersion != v1alpha1.GroupVersion || c.Kind != "Cluster" {
		return fmt.Errorf("apiVersion/kind %q/%q: want %s Cluster", c.APIVersion, c.Kind, v1alpha1.GroupVersion)
	}
	if err := names.Subdomain("fleet cluster", c.Name); err != nil {
		return fmt.Errorf("metadata.name: %w", err)
	}
	switch c.Spec.Provider {
	case v1alpha1.ProviderLocal:
		if c.Spec.Local == nil || c.Spec.Local.Name == "" {
			return fmt.Errorf("cluster %s: spec.local.name is required with provider local", c.Name)
		}
		if err := names.Label("local cluster", c.Spec.Local.Name); err != nil {
			return fmt.Errorf("cluster %s: spec.local.name: %w", c.Name, err)
		}
	case v1alpha1.ProviderKubeconfig:
	default:
		return fmt.Errorf("cluster %s: spec.provider %q: use %s or %s", c.Name, c.Spec.Provider, v1alpha1.ProviderLocal, v1alpha1.ProviderKubeconfig)
	}
	return nil
}

// RESTConfig returns how to reach a cluster; local clusters are looked up
// in the local fleet.
func RESTConfig(c v1alpha1.Cluster, local *localfleet.Fleet) (*rest.Config, error) {
	if c.Spec.Provider == v1alpha1.ProviderLocal {
		lc, err := local.Get(c.Spec.Local.Name)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		return lc.RESTConfig()
	}
	return KubeconfigRESTConfig(c.Spec.Kubeconfig, c.Spec.Context)
}

// KubeconfigRESTConfig loads a kubeconfig the way kubectl does: an explicit
// path, else $KUBECONFIG, else ~/.kube/config; an optional context.
func KubeconfigRESTConfig(path, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig (context %q): %w", context, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}

// Marshal writes clusters as a fleet file: a YAML stream of Cluster
// objects (status left out).
func Marshal(clusters []v1alpha1.Cluster) ([]byte, error) {
	var out []byte
	for i, c := range clusters {
		c = *c.DeepCopy()
		c.Status = v1alpha1.ClusterStatus{}
		data, err := yaml.Marshal(c)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, data...)
	}
	return out, nil
}
