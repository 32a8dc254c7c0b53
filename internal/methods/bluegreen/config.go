package bluegreen

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/statesync"
)

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
