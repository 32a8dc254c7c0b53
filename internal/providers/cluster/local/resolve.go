package local

import (
	"fmt"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/toolchain"
)

// NameField is the field of a fleet Cluster that names its local cluster.
var NameField = []string{"spec", "local", "name"}

// Validate checks a fleet Cluster of provider local names a local cluster.
func Validate(c *v1alpha1.Cluster, _ string) error {
	if c.Spec.Local == nil || c.Spec.Local.Name == "" {
		return fmt.Errorf("cluster %s: spec.local.name is required with provider local", c.Name)
	}
	if err := names.Label("local cluster", c.Spec.Local.Name); err != nil {
		return fmt.Errorf("cluster %s: spec.local.name: %w", c.Name, err)
	}
	if c.Spec.Exec != nil {
		return fmt.Errorf("cluster %s: spec.exec is for provider exec, not local", c.Name)
	}
	return nil
}

// Open resolves the fleet's local clusters against the local fleet in
// env's home.
func Open(env fleetmember.Env) (fleetmember.Resolver, error) {
	return Resolver(&localfleet.Fleet{Home: env.Home, Tools: &toolchain.Cache{Dir: env.CacheDir}, DaemonCommand: env.Self}), nil
}

// Resolver resolves clusters of provider local against lf.
func Resolver(lf *localfleet.Fleet) fleetmember.Resolver {
	provider := New(lf)
	return func(c v1alpha1.Cluster) (*fleetmember.Member, error) {
		if c.Spec.Provider != v1alpha1.ProviderLocal {
			return nil, fmt.Errorf("cluster %s: provider %s is not local", c.Name, c.Spec.Provider)
		}
		if c.Spec.Local == nil {
			return nil, fmt.Errorf("cluster %s: spec.local.name is required with provider local", c.Name)
		}
		lc, err := lf.Get(c.Spec.Local.Name)
		if err != nil {
			return nil, err
		}
		cfg, err := lc.RESTConfig()
		if err != nil {
			return nil, err
		}
		return &fleetmember.Member{Provider: provider, Name: lc.Name, RESTConfig: cfg, Kubeconfig: lc.KubeconfigPath()}, nil
	}
}
