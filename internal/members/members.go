// Package members connects the engine to the clusters of a fleet file:
// it resolves each Cluster object to the provider that can act on it and
// the credentials gates use. Only the local provider can upgrade today.
package members

import (
	"fmt"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/cluster/local"
)

// Local resolves clusters of provider local against a local fleet.
func Local(lf *localfleet.Fleet) engine.Resolver {
	provider := local.New(lf)
	return func(c v1alpha1.Cluster) (*engine.Member, error) {
		if c.Spec.Provider != v1alpha1.ProviderLocal {
			return nil, fmt.Errorf("provider %s can be scanned but not upgraded yet: only local clusters run update runs today", c.Spec.Provider)
		}
		lc, err := lf.Get(c.Spec.Local.Name)
		if err != nil {
			return nil, err
		}
		cfg, err := lc.RESTConfig()
		if err != nil {
			return nil, err
		}
		return &engine.Member{Provider: provider, Name: lc.Name, RESTConfig: cfg, Kubeconfig: lc.KubeconfigPath()}, nil
	}
}
