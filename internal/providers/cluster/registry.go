package cluster

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
)

// Member is a fleet cluster upshift can act on: the provider that runs
// it, the provider's name for it, and how to reach its API server.
type Member struct {
	Provider   Provider
	Name       string // the provider's name of the cluster
	RESTConfig *rest.Config
	Kubeconfig string
}

// Resolver finds how to act on a fleet cluster.
type Resolver func(v1alpha1.Cluster) (*Member, error)

// Env is what a provider may need from the process that opens it.
type Env struct {
	// Home is upshift's state folder; the local fleet lives under it.
	Home string
	// CacheDir holds built tools (the local fleet's binaries).
	CacheDir string
	// Self is the command that runs this program again, for providers
	// that start daemons (the local fleet's ingress stand-ins).
	Self []string
}

// Opener opens one kind of provider for a process: it returns the
// resolver of that kind's fleet clusters. It is called once per
// NewResolver, on the first cluster of its kind.
type Opener func(Env) (Resolver, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Opener{}
)

// Register makes a provider kind (a Cluster's spec.provider) available.
// internal/builtin registers every shipped provider, one line each; a
// second registration of a kind panics.
func Register(kind string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("cluster provider " + kind + " registered twice")
	}
	registry[kind] = open
}

// Kinds lists the registered provider kinds, sorted.
func Kinds() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	var out []string
	for k := range registry {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// NewResolver resolves each fleet cluster through the provider its
// spec.provider names, opening each kind once.
func NewResolver(env Env) Resolver {
	var mu sync.Mutex
	opened := map[string]Resolver{}
	return func(c v1alpha1.Cluster) (*Member, error) {
		mu.Lock()
		resolve, ok := opened[c.Spec.Provider]
		if !ok {
			registryMu.Lock()
			open, known := registry[c.Spec.Provider]
			registryMu.Unlock()
			if !known {
				mu.Unlock()
				return nil, fmt.Errorf("cluster %s: provider %q cannot run upgrades here (it can be scanned with a kubeconfig); providers that upgrade: %s", c.Name, c.Spec.Provider, strings.Join(Kinds(), ", "))
			}
			var err error
			if resolve, err = open(env); err != nil {
				mu.Unlock()
				return nil, fmt.Errorf("opening provider %s: %w", c.Spec.Provider, err)
			}
			opened[c.Spec.Provider] = resolve
		}
		mu.Unlock()
		return resolve(c)
	}
}
