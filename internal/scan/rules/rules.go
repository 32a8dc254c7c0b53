package rules

import (
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"

	"upshift.dev/upshift/internal/kubeversion"
)

// Version is a Kubernetes minor release, e.g. 1.25; the zero value
// means "not scheduled". It is the one version type (kubeversion).
type Version = kubeversion.Version

// ParseVersion reads "1.25", "v1.25" or "v1.25.3" as its minor release.
func ParseVersion(s string) (Version, error) {
	v, err := kubeversion.Parse(s)
	return v.WithoutPatch(), err
}

func minor(n int) Version { return kubeversion.Minor(n) }

// Rule is the lifecycle of one API version of one kind.
type Rule struct {
	GVK         schema.GroupVersionKind
	Deprecated  Version
	Removed     Version
	Replacement schema.GroupVersionKind // empty if none
	Source      string                  // where the rule comes from
	// Component is the add-on whose API this is (cert-manager, istio),
	// and whose own releases Deprecated and Removed are; "" for
	// Kubernetes.
	Component string
}

// APIVersion is the rule's apiVersion as manifests write it.
func (r Rule) APIVersion() string { return r.GVK.GroupVersion().String() }

// ReplacementString renders the replacement as "apiVersion Kind".
func (r Rule) ReplacementString() string {
	if r.Replacement.Empty() {
		return ""
	}
	return r.Replacement.GroupVersion().String() + " " + r.Replacement.Kind
}

// Table maps group/version/kind to its rule.
type Table struct {
	byGVK map[schema.GroupVersionKind]Rule
	// byGVR maps group/version/resource (plural, lowercase) for sources
	// that name resources, such as the API server's metric.
	byGVR map[schema.GroupVersionResource]Rule
	// addons are the add-ons' own APIs (addons.yaml), by group/version/kind.
	addons map[schema.GroupVersionKind]Rule
}

// Lookup returns the rule of a group/version/kind.
func (t *Table) Lookup(gvk schema.GroupVersionKind) (Rule, bool) {
	r, ok := t.byGVK[gvk]
	return r, ok
}

// LookupResource returns the rule of a group/version/resource.
func (t *Table) LookupResource(gvr schema.GroupVersionResource) (Rule, bool) {
	r, ok := t.byGVR[gvr]
	return r, ok
}

// All returns every rule, sorted by group, version and kind.
func (t *Table) All() []Rule {
	out := make([]Rule, 0, len(t.byGVK))
	for _, r := range t.byGVK {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GVK.String() < out[j].GVK.String() })
	return out
}

type lifecycle interface {
	APILifecycleDeprecated() (major, minor int)
	APILifecycleRemoved() (major, minor int)
}

type replaced interface {
	APILifecycleReplacement() schema.GroupVersionKind
}

// kubernetesAPIModule names the source of derived rules.
const kubernetesAPIModule = "k8s.io/api (generated prerelease lifecycle)"

// APIModuleMinor is the Kubernetes minor of the k8s.io/api module the
// rules are derived from (k8s.io/api v0.37.x is Kubernetes 1.37);
// TestAPIModuleMinor holds it to go.mod.
const APIModuleMinor = 37

// KnownThrough is the newest Kubernetes minor the rules know: an API
// deprecated or removed after it is not in the table.
func KnownThrough() Version { return minor(APIModuleMinor) }

// Default builds the table from k8s.io/api and the sourced extras.
func Default() *Table {
	t := &Table{byGVK: map[schema.GroupVersionKind]Rule{}, byGVR: map[schema.GroupVersionResource]Rule{}, addons: map[schema.GroupVersionKind]Rule{}}
	addons, err := addonRules()
	if err != nil {
		panic(err) // the embedded file; TestAddonRules reads it
	}
	for _, r := range addons {
		t.addons[r.GVK] = r
	}
	for gvk, typ := range scheme.Scheme.AllKnownTypes() {
		if strings.HasSuffix(gvk.Kind, "List") || gvk.Version == "__internal" {
			continue
		}
		obj, ok := reflect.New(typ).Interface().(lifecycle)
		if !ok {
			continue
		}
		r := Rule{GVK: gvk, Source: kubernetesAPIModule}
		r.Deprecated.Major, r.Deprecated.Minor = obj.APILifecycleDeprecated()
		r.Removed.Major, r.Removed.Minor = obj.APILifecycleRemoved()
		if rep, ok := obj.(replaced); ok {
			r.Replacement = rep.APILifecycleReplacement()
		}
		if ga := (schema.GroupVersionKind{Group: gvk.Group, Version: "v1", Kind: gvk.Kind}); r.Replacement.Empty() && gvk.Version != "v1" && scheme.Scheme.Recognizes(ga) {
			// Upstream names no successor (networking.k8s.io/v1beta1
			// ServiceCIDR, removed in 1.37), but the kind is GA: that is it.
			r.Replacement = ga
		}
		if r.Deprecated.IsZero() && r.Removed.IsZero() {
			continue
		}
		t.add(r)
	}
	for _, r := range extra {
		if _, ok := t.byGVK[r.GVK]; !ok {
			t.add(r)
		}
	}
	return t
}

func (t *Table) add(r Rule) {
	t.byGVK[r.GVK] = r
	t.byGVR[schema.GroupVersionResource{Group: r.GVK.Group, Version: r.GVK.Version, Resource: plural(r.GVK.Kind)}] = r
}

// plural lowercases and pluralises a kind the way the API server names
// resources (Ingress → ingresses, PodSecurityPolicy → podsecuritypolicies).
func plural(kind string) string {
	k := strings.ToLower(kind)
	switch {
	case strings.HasSuffix(k, "s"), strings.HasSuffix(k, "x"):
		return k + "es"
	case strings.HasSuffix(k, "y") && !strings.HasSuffix(k, "ey"):
		return k[:len(k)-1] + "ies"
	}
	return k + "s"
}

// deprecationGuide is the upstream record of removals.
const deprecationGuide = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/"

// extra holds API versions that k8s.io/api (or the other API modules) no
// longer carries, from the upstream deprecation guide.
var extra = []Rule{
	{GVK: gvk("policy", "v1beta1", "PodSecurityPolicy"), Deprecated: minor(21), Removed: minor(25), Source: deprecationGuide + "#psp-v125"},
	{GVK: gvk("autoscaling", "v2beta1", "HorizontalPodAutoscaler"), Deprecated: minor(22), Removed: minor(25), Replacement: gvk("autoscaling", "v2", "HorizontalPodAutoscaler"), Source: deprecationGuide + "#horizontalpodautoscaler-v125"},
	{GVK: gvk("autoscaling", "v2beta2", "HorizontalPodAutoscaler"), Deprecated: minor(23), Removed: minor(26), Replacement: gvk("autoscaling", "v2", "HorizontalPodAutoscaler"), Source: deprecationGuide + "#horizontalpodautoscaler-v126"},
	{GVK: gvk("apiextensions.k8s.io", "v1beta1", "CustomResourceDefinition"), Deprecated: minor(16), Removed: minor(22), Replacement: gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"), Source: deprecationGuide + "#customresourcedefinition-v122"},
	{GVK: gvk("apiregistration.k8s.io", "v1beta1", "APIService"), Deprecated: minor(19), Removed: minor(22), Replacement: gvk("apiregistration.k8s.io", "v1", "APIService"), Source: deprecationGuide + "#apiservice-v122"},
}

func gvk(group, version, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
}

// ReplacementAt follows the replacement chain until it reaches an API
// version still served at target (flowcontrol v1beta2 → v1beta3 → v1).
func (t *Table) ReplacementAt(r Rule, target Version) schema.GroupVersionKind {
	rep := r.Replacement
	for range 10 {
		next, ok := t.byGVK[rep]
		if rep.Empty() || !ok || !next.Removed.MinorAtOrBefore(target) {
			return rep
		}
		if next.Replacement.Empty() {
			// Upstream names no successor; the GA version of the group is it.
			return schema.GroupVersionKind{Group: rep.Group, Version: "v1", Kind: rep.Kind}
		}
		rep = next.Replacement
	}
	return rep
}

// Grant is what the table knows of an RBAC rule's group and resource
// (`apiGroups: [extensions]`, `resources: [ingresses]`) at a target.
type Grant struct {
	// Known: some API version of the group served the resource and was
	// deprecated or removed.
	Known bool
	// Served: a version of the group still serves the resource at the
	// target (policy/v1 poddisruptionbudgets), so the grant still grants.
	Served bool
	// Removed is when the last version of the group that served the
	// resource was removed; Replacement where the resource moved
	// (extensions ingresses → networking.k8s.io/v1 Ingress), if anywhere.
	Removed     Version
	Replacement schema.GroupVersionKind
}

// GrantAt says whether an RBAC grant of resource in group still grants
// anything at target: a grant of a resource that only removed API
// versions served grants nothing there.
func (t *Table) GrantAt(group, resource string, target Version) Grant {
	var g Grant
	for gvr, r := range t.byGVR {
		if gvr.Group != group || gvr.Resource != resource {
			continue
		}
		g.Known = true
		if !r.Removed.MinorAtOrBefore(target) {
			g.Served = true
			continue
		}
		if r.Removed.Compare(g.Removed) > 0 {
			g.Removed, g.Replacement = r.Removed, t.ReplacementAt(r, target)
		}
	}
	if !g.Known || g.Served {
		return g
	}
	// A version that was never deprecated (apps/v1 deployments) serves it.
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if gvk.Group != group || gvk.Version == "__internal" || plural(gvk.Kind) != resource {
			continue
		}
		if _, deprecated := t.byGVK[gvk]; !deprecated {
			g.Served = true
			break
		}
	}
	return g
}
