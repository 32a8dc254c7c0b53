package statesync

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// FieldManager owns what the copy applies on green.
const FieldManager = "upshift-sync"

// Kinds are copied in this order: what others depend on first.
var Kinds = []schema.GroupVersionResource{
	{Version: "v1", Resource: "namespaces"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "persistentvolumeclaims"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "batch", Version: "v1", Resource: "cronjobs"},
	{Version: "v1", Resource: "services"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
	{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"},
}

// Options select what to copy.
type Options struct {
	// Namespaces to copy; empty copies every namespace but the system ones.
	Namespaces []string
	// Kinds to copy; empty copies Kinds.
	Kinds []schema.GroupVersionResource
}

func (o Options) kinds() []schema.GroupVersionResource {
	if len(o.Kinds) > 0 {
		return o.Kinds
	}
	return Kinds
}

// systemNamespace reports namespaces the platform owns.
func systemNamespace(ns string) bool {
	return ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease" || strings.HasPrefix(ns, "upshift-")
}

// Result counts what a copy applied.
type Result struct {
	Applied int            `json:"applied"`
	ByKind  map[string]int `json:"byKind"`
}

// Copy applies blue's objects to green.
func Copy(ctx context.Context, blue, green dynamic.Interface, opts Options) (Result, error) {
	res := Result{ByKind: map[string]int{}}
	objs, err := read(ctx, blue, opts)
	if err != nil {
		return res, err
	}
	for _, o := range objs {
		ri := green.Resource(o.gvr)
		var target dynamic.ResourceInterface = ri
		if ns := o.obj.GetNamespace(); ns != "" {
			target = ri.Namespace(ns)
		}
		if _, err := target.Apply(ctx, o.obj.GetName(), o.obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return res, fmt.Errorf("applying %s %s to the new cluster: %w", o.gvr.Resource, key(o.obj), err)
		}
		res.Applied++
		res.ByKind[o.gvr.Resource]++
	}
	return res, nil
}

type object struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
}

func key(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// read lists blue's objects to copy, stripped, in apply order.
func read(ctx context.Context, client dynamic.Interface, opts Options) ([]object, error) {
	namespaces := map[string]bool{}
	if len(opts.Namespaces) > 0 {
		for _, ns := range opts.Namespaces {
			namespaces[ns] = true
		}
	} else {
		list, err := client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", err)
		}
		for _, ns := range list.Items {
			if !systemNamespace(ns.GetName()) {
				namespaces[ns.GetName()] = true
			}
		}
	}
	var out []object
	for _, gvr := range opts.kinds() {
		list, err := client.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		sort.Slice(list.Items, func(i, j int) bool { return key(&list.Items[i]) < key(&list.Items[j]) })
		for i := range list.Items {
			o := &list.Items[i]
			ns := o.GetNamespace()
			if gvr.Resource == "namespaces" {
				ns = o.GetName()
			}
			if !namespaces[ns] || generated(gvr, o) {
				continue
			}
			out = append(out, object{gvr: gvr, obj: Strip(gvr, o)})
		}
	}
	return out, nil
}

// generated reports objects the new cluster makes itself.
func generated(gvr schema.GroupVersionResource, o *unstructured.Unstructured) bool {
	if metav1.GetControllerOf(o) != nil {
		return true
	}
	switch gvr.Resource {
	case "configmaps":
		return o.GetName() == "kube-root-ca.crt"
	case "serviceaccounts":
		return o.GetName() == "default"
	case "secrets":
		t, _, _ := unstructured.NestedString(o.Object, "type")
		return t == "kubernetes.io/service-account-token"
	case "services":
		return o.GetNamespace() == metav1.NamespaceDefault && o.GetName() == "kubernetes"
	}
	return false
}

// Strip removes what belongs to the source cluster alone.
func Strip(gvr schema.GroupVersionResource, in *unstructured.Unstructured) *unstructured.Unstructured {
	o := in.DeepCopy()
	for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "ownerReferences", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName"} {
		unstructured.RemoveNestedField(o.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(o.Object, "metadata", "annotations", "deployment.kubernetes.io/revision")
	if len(o.GetAnnotations()) == 0 {
		unstructured.RemoveNestedField(o.Object, "metadata", "annotations")
	}
	unstructured.RemoveNestedField(o.Object, "status")
	switch gvr.Resource {
	case "services":
		unstructured.RemoveNestedField(o.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(o.Object, "spec", "clusterIPs")
		unstructured.RemoveNestedField(o.Object, "spec", "healthCheckNodePort")
		if ports, ok, _ := unstructured.NestedSlice(o.Object, "spec", "ports"); ok {
			for _, p := range ports {
				if m, ok := p.(map[string]any); ok {
					delete(m, "nodePort")
				}
			}
			_ = unstructured.SetNestedSlice(o.Object, ports, "spec", "ports")
		}
	case "persistentvolumeclaims":
		unstructured.RemoveNestedField(o.Object, "spec", "volumeName")
	case "namespaces":
		unstructured.RemoveNestedField(o.Object, "spec", "finalizers")
	}
	return o
}

// Drift is an object of blue that green lacks or holds differently.
type Drift struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Problem says what differs, by field path; values are never shown.
	Problem string `json:"problem"`
}

// Diff compares blue's objects with green's: every field blue sets must
// hold the same value on green (fields green adds, such as defaults of a
// newer version, are not drift).
func Diff(ctx context.Context, blue, green dynamic.Interface, opts Options) ([]Drift, error) {
	objs, err := read(ctx, blue, opts)
	if err != nil {
		return nil, err
	}
	var out []Drift
	for _, o := range objs {
		d := Drift{Kind: o.gvr.Resource, Namespace: o.obj.GetNamespace(), Name: o.obj.GetName()}
		ri := green.Resource(o.gvr)
		var target dynamic.ResourceInterface = ri
		if d.Namespace != "" {
			target = ri.Namespace(d.Namespace)
		}
		got, err := target.Get(ctx, d.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			d.Problem = "missing on the new cluster"
			out = append(out, d)
			continue
		}
		if err != nil {
			return out, fmt.Errorf("reading %s %s on the new cluster: %w", o.gvr.Resource, key(o.obj), err)
		}
		if path := firstDifference(o.obj.Object, Strip(o.gvr, got).Object, ""); path != "" {
			d.Problem = "differs at " + path
			out = append(out, d)
		}
	}
	return out, nil
}

// firstDifference returns the path of the first field of want that got
// lacks or holds with another value ("" when want is a subset of got).
func firstDifference(want, got any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return orRoot(path)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if d := firstDifference(w[k], g[k], p); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return orRoot(path)
		}
		for i := range w {
			if d := firstDifference(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(want, got) {
			return orRoot(path)
		}
		return ""
	}
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}
