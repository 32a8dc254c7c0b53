package statesync

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/yamlstream"
)

// kindOrder ranks kinds for applying: what others depend on first.
var kindOrder = []string{
	"Namespace", "CustomResourceDefinition", "PriorityClass", "StorageClass",
	"ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding",
	"Secret", "ConfigMap", "PersistentVolume", "PersistentVolumeClaim",
	"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
	"Service", "Ingress", "PodDisruptionBudget", "HorizontalPodAutoscaler",
}

func kindRank(kind string) int {
	for i, k := range kindOrder {
		if k == kind {
			return i
		}
	}
	return len(kindOrder) // custom resources and the rest last
}

// ReadManifests reads the objects of a kustomization (a folder with a
// kustomization.yaml, built with kustomize) or of every .yaml, .yml and
// .json file under a folder (or one file).
func ReadManifests(path string) ([]*unstructured.Unstructured, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	if info.IsDir() {
		for _, k := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
			if _, err := os.Stat(filepath.Join(path, k)); err == nil {
				res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), path)
				if err != nil {
					return nil, fmt.Errorf("kustomize build %s: %w", path, err)
				}
				data, err := res.AsYaml()
				if err != nil {
					return nil, err
				}
				return decode(path, data)
			}
		}
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	sort.Strings(files)
	var out []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		objs, err := decode(f, data)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("manifests: no Kubernetes objects under %s", path)
	}
	return out, nil
}

func decode(name string, data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	err := yamlstream.Each(name, data, func(i int, doc []byte) error {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if strings.TrimSpace(string(js)) == "null" {
			return nil
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(js); err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if o.IsList() {
			list, _ := o.ToList()
			for j := range list.Items {
				out = append(out, &list.Items[j])
			}
			return nil
		}
		if o.GetName() == "" {
			return fmt.Errorf("%s: document %d: %s has no metadata.name", name, i, o.GetKind())
		}
		out = append(out, o)
		return nil
	})
	return out, err
}

// ApplyManifests server-side applies objects to a cluster in dependency
// order. Custom resources wait for their definitions to be served.
func ApplyManifests(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) (Result, error) {
	res := Result{ByKind: map[string]int{}}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return res, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	sorted := append([]*unstructured.Unstructured(nil), objs...)
	sort.SliceStable(sorted, func(i, j int) bool { return kindRank(sorted[i].GetKind()) < kindRank(sorted[j].GetKind()) })
	for _, o := range sorted {
		gvk := o.GroupVersionKind()
		var mapping *meta.RESTMapping
		deadline := time.Now().Add(30 * time.Second)
		for {
			mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err == nil || time.Now().After(deadline) {
				break
			}
			mapper.Reset() // a definition applied just now may not be served yet
			time.Sleep(time.Second)
		}
		if err != nil {
			return res, fmt.Errorf("%s %s: the cluster does not serve this kind: %w", gvk.Kind, o.GetName(), err)
		}
		var target dynamic.ResourceInterface = client.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := o.GetNamespace()
			if ns == "" {
				ns = metav1.NamespaceDefault
				o.SetNamespace(ns)
			}
			target = client.Resource(mapping.Resource).Namespace(ns)
		}
		if _, err := target.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return res, fmt.Errorf("applying %s %s: %w", gvk.Kind, key(o), err)
		}
		res.Applied++
		res.ByKind[mapping.Resource.Resource]++
	}
	return res, nil
}
