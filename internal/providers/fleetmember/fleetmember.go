package fleetmember

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/registry"
)

// Member is a fleet cluster upshift can act on: the provider that runs
// it, the provider's name for it, and how to reach its API server.
type Member struct {
	Provider   cluster.Provider
	Name       string // the provider's name of the cluster
	RESTConfig *rest.Config
	Kubeconfig string
	// Context in Kubeconfig to use; empty: its current context.
	Context string
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

// Kind is a registered provider kind.
type Kind struct {
	Open Opener
	// NameField is the path of the field of a fleet Cluster that names
	// the provider's cluster (spec.local.name for local). A blue-green
	// move points the fleet entry at green by setting it, so the engine
	// never learns a provider's spec.
	NameField []string
	// Validate checks the provider's part of a fleet Cluster when the
	// fleet file is read, and makes its relative paths absolute against
	// dir, the fleet file's folder (a run keeps the fleet it started
	// with, and resumes from anywhere). Nil accepts any.
	Validate func(c *v1alpha1.Cluster, dir string) error
	// Cannot maps the operations the provider cannot do to why; the
	// planner names them for each step that would need them.
	Cannot map[string]string
	// OwnCredentials says the provider reaches each cluster's API server
	// with credentials it gets itself (AKS's listClusterUserCredential):
	// a fleet entry's kubeconfig and context are blue's alone, and a
	// move to green drops them.
	OwnCredentials bool
}

var kinds = registry.New[Kind]("cluster provider")

// Register makes a provider kind (a Cluster's spec.provider) available.
// internal/builtin registers every shipped provider, one line each; a
// second registration of a kind panics.
func Register(kind string, k Kind) { kinds.Register(kind, k) }

// NameField returns the field that names a cluster of the provider kind.
func NameField(kind string) ([]string, error) {
	k, ok := kinds.Get(kind)
	if !ok || len(k.NameField) == 0 {
		return nil, fmt.Errorf("provider %q cannot point a fleet cluster at another of its clusters", kind)
	}
	return k.NameField, nil
}

// Retarget returns the fleet cluster c pointed at the provider's cluster
// name: how a blue-green move reaches green, and how green takes blue's
// place in the fleet.
func Retarget(c v1alpha1.Cluster, name string) (v1alpha1.Cluster, error) {
	field, err := NameField(c.Spec.Provider)
	if err != nil {
		return c, err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return c, err
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return c, err
	}
	if err := unstructured.SetNestedField(obj, name, field...); err != nil {
		return c, fmt.Errorf("cluster %s: setting %s: %w", c.Name, strings.Join(field, "."), err)
	}
	var out v1alpha1.Cluster
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &out); err != nil {
		return c, err
	}
	if k, _ := kinds.Get(c.Spec.Provider); k.OwnCredentials {
		out.Spec.Kubeconfig, out.Spec.Context, out.Spec.KubeconfigSecretRef = "", "", nil
	}
	return out, nil
}

// Validate checks a fleet Cluster's provider part (see Kind.Validate).
func Validate(c *v1alpha1.Cluster, dir string) error {
	k, ok := kinds.Get(c.Spec.Provider)
	if !ok {
		return fmt.Errorf("cluster %s: spec.provider %q: use one of %s", c.Name, c.Spec.Provider, strings.Join(Kinds(), ", "))
	}
	if c.Spec.Kubeconfig != "" && !filepath.IsAbs(c.Spec.Kubeconfig) && dir != "" {
		c.Spec.Kubeconfig = filepath.Join(dir, c.Spec.Kubeconfig)
	}
	if k.Validate == nil {
		return nil
	}
	return k.Validate(c, dir)
}

// Cannot maps the operations a provider kind cannot do to why.
func Cannot(kind string) map[string]string {
	k, _ := kinds.Get(kind)
	return k.Cannot
}

// Kinds lists the registered provider kinds, sorted.
func Kinds() []string { return kinds.Names() }

// NewResolver resolves each fleet cluster through the provider its
// spec.provider names, opening each kind once.
func NewResolver(env Env) Resolver {
	var mu sync.Mutex
	opened := map[string]Resolver{}
	return func(c v1alpha1.Cluster) (*Member, error) {
		if c.Spec.KubeconfigSecretRef != nil && c.Spec.Kubeconfig == "" {
			return nil, fmt.Errorf("cluster %s: spec.kubeconfigSecretRef names Secret %s, which only a hub reads: run it on the hub (its --context), or set spec.kubeconfig to a file", c.Name, c.Spec.KubeconfigSecretRef.Name)
		}
		mu.Lock()
		resolve, ok := opened[c.Spec.Provider]
		if !ok {
			k, known := kinds.Get(c.Spec.Provider)
			if !known {
				mu.Unlock()
				return nil, fmt.Errorf("cluster %s: spec.provider %q: use one of %s", c.Name, c.Spec.Provider, strings.Join(Kinds(), ", "))
			}
			var err error
			if resolve, err = k.Open(env); err != nil {
				mu.Unlock()
				return nil, fmt.Errorf("opening provider %s: %w", c.Spec.Provider, err)
			}
			opened[c.Spec.Provider] = resolve
		}
		mu.Unlock()
		return resolve(c)
	}
}
