package aks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/atomicfile"
	"upshift.dev/upshift/internal/azurearm"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/restconfig"
)

// NameField is the field of a fleet Cluster that names its managed
// cluster: a blue-green move points the entry at green through it.
var NameField = []string{"spec", "aks", "name"}

// Validate checks a fleet Cluster of provider aks, and takes a relative
// nodeImageFeed from dir, the fleet file's folder.
func Validate(c *v1alpha1.Cluster, dir string) error {
	a := c.Spec.AKS
	if a == nil {
		return fmt.Errorf("cluster %s: spec.aks (subscriptionID, resourceGroup, name) is required with provider aks", c.Name)
	}
	if c.Spec.Local != nil || c.Spec.Exec != nil {
		return fmt.Errorf("cluster %s: provider aks takes spec.aks (and optionally spec.kubeconfig and spec.context) only", c.Name)
	}
	switch {
	case a.SubscriptionID == "":
		return fmt.Errorf("cluster %s: spec.aks.subscriptionID is required", c.Name)
	case a.ResourceGroup == "":
		return fmt.Errorf("cluster %s: spec.aks.resourceGroup is required", c.Name)
	case strings.ContainsAny(a.SubscriptionID+a.ResourceGroup, "/?#"):
		return fmt.Errorf("cluster %s: spec.aks.subscriptionID and resourceGroup cannot hold / ? or #", c.Name)
	}
	if err := names.Subdomain("managed cluster", a.Name); err != nil {
		return fmt.Errorf("cluster %s: spec.aks.name: %w", c.Name, err)
	}
	if ns, n, ok := strings.Cut(a.IngressService, "/"); a.IngressService != "" && (!ok || ns == "" || n == "") {
		return fmt.Errorf("cluster %s: spec.aks.ingressService %q: write namespace/name of the ingress controller's LoadBalancer Service", c.Name, a.IngressService)
	}
	if err := azurearm.ValidateEndpoint("spec.aks.armEndpoint", a.ARMEndpoint); err != nil {
		return fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	if a.NodeImageFeed != "" && !filepath.IsAbs(a.NodeImageFeed) && dir != "" {
		a.NodeImageFeed = filepath.Join(dir, a.NodeImageFeed)
	}
	return nil
}

// catalogued is the provider of a cluster whose fleet entry names a
// catalogue of its images (spec.aks.nodeImageFeed): a nodeimages.Source.
type catalogued struct {
	*Provider
	feed string
}

// NodeImages reads the cluster's catalogue.
func (c catalogued) NodeImages(context.Context) (*nodeimages.Feed, error) {
	feed, err := nodeimages.Load(c.feed)
	if err != nil {
		return nil, fmt.Errorf("spec.aks.nodeImageFeed: %w", err)
	}
	return feed, nil
}

// New opens the provider of a fleet cluster of provider aks.
func New(a *v1alpha1.AKSCluster) (*Provider, error) {
	opts, cred, err := azurearm.Options(a.ARMEndpoint)
	if err != nil {
		return nil, fmt.Errorf("no Azure credentials (DefaultAzureCredential tries the environment, workload identity, managed identity and the Azure CLI): %w", err)
	}
	factory, err := armcontainerservice.NewClientFactory(a.SubscriptionID, cred, opts)
	if err != nil {
		return nil, err
	}
	p := &Provider{Clusters: factory.NewManagedClustersClient(), Pools: factory.NewAgentPoolsClient(), Maintenance: factory.NewMaintenanceConfigurationsClient(),
		Group: a.ResourceGroup, Blue: a.Name, Admin: a.AdminCredentials, Ingress: a.IngressService}
	if azurearm.IsLoopback(a.ARMEndpoint) {
		p.Poll = time.Second
	}
	return p, nil
}

// Open resolves fleet clusters of provider aks. The API server is reached
// through spec.kubeconfig when given, else through the cluster's user (or
// admin) credentials, written to a 0600 file under the home.
func Open(env fleetmember.Env) (fleetmember.Resolver, error) {
	var mu sync.Mutex
	return func(c v1alpha1.Cluster) (*fleetmember.Member, error) {
		a := c.Spec.AKS
		if a == nil {
			return nil, fmt.Errorf("spec.aks is required with provider aks")
		}
		p, err := New(a)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		kubeconfig, kubeContext := c.Spec.Kubeconfig, c.Spec.Context
		if kubeconfig == "" {
			var creds armcontainerservice.CredentialResults
			if a.AdminCredentials {
				resp, err := p.Clusters.ListClusterAdminCredentials(ctx, a.ResourceGroup, a.Name, nil)
				if err != nil {
					return nil, azureError(fmt.Sprintf("managed cluster %s/%s in subscription %s: admin credentials", a.ResourceGroup, a.Name, a.SubscriptionID), err)
				}
				creds = resp.CredentialResults
			} else {
				resp, err := p.Clusters.ListClusterUserCredentials(ctx, a.ResourceGroup, a.Name, nil)
				if err != nil {
					return nil, azureError(fmt.Sprintf("managed cluster %s/%s in subscription %s: user credentials", a.ResourceGroup, a.Name, a.SubscriptionID), err)
				}
				creds = resp.CredentialResults
			}
			if len(creds.Kubeconfigs) == 0 || len(creds.Kubeconfigs[0].Value) == 0 {
				return nil, fmt.Errorf("managed cluster %s/%s: Azure returned no kubeconfig", a.ResourceGroup, a.Name)
			}
			kubeconfig = filepath.Join(env.Home, "aks", a.SubscriptionID, a.ResourceGroup, a.Name+".kubeconfig")
			mu.Lock()
			err := os.MkdirAll(filepath.Dir(kubeconfig), 0o700)
			if err == nil {
				err = atomicfile.Write(kubeconfig, creds.Kubeconfigs[0].Value, 0o600)
			}
			mu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("writing the credentials of %s: %w", a.Name, err)
			}
		}
		cfg, err := restconfig.FromKubeconfig(kubeconfig, kubeContext)
		if err != nil {
			return nil, err
		}
		m := &fleetmember.Member{Provider: p, Name: a.Name, RESTConfig: cfg, Kubeconfig: kubeconfig, Context: kubeContext}
		if a.NodeImageFeed != "" {
			m.Provider = catalogued{Provider: p, feed: a.NodeImageFeed}
		}
		return m, nil
	}, nil
}
