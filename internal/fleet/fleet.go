package fleet

import (
	"fmt"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/window"
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

// Parse reads Cluster objects from a YAML stream read from the file name;
// relative paths in them are taken from name's folder. Each provider
// checks its own part (fleetmember.Validate), so builtin.Register must have
// run.
func Parse(name string, data []byte) ([]v1alpha1.Cluster, error) {
	var out []v1alpha1.Cluster
	seen := map[string]bool{}
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, err
	}
	err = yamlstream.Each(name, data, func(i int, doc []byte) error {
		if err := yamlstream.Quoted(name, data, i, doc, "kubernetesVersion"); err != nil {
			return err
		}
		var c v1alpha1.Cluster
		if err := yaml.UnmarshalStrict(doc, &c); err != nil {
			if unknown := yamlstream.UnknownField(name, data, i, doc, &c); unknown != nil {
				return unknown
			}
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		// The decoder matched a key that differs only in case; refuse it.
		if unknown := yamlstream.UnknownField(name, data, i, doc, &c); unknown != nil {
			return unknown
		}
		if err := validate(&c, dir); err != nil {
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

func validate(c *v1alpha1.Cluster, dir string) error {
	if c.APIVersion != v1alpha1.GroupVersion || c.Kind != "Cluster" {
		return fmt.Errorf("apiVersion/kind %q/%q: want %s Cluster", c.APIVersion, c.Kind, v1alpha1.GroupVersion)
	}
	if err := names.Subdomain("fleet cluster", c.Name); err != nil {
		return fmt.Errorf("metadata.name: %w", err)
	}
	if w := c.Spec.MaintenanceWindow; w != nil {
		if _, errs := window.Compile(*w, field.NewPath("spec", "maintenanceWindow")); len(errs) > 0 {
			return fmt.Errorf("cluster %s: %w", c.Name, errs.ToAggregate())
		}
	}
	return fleetmember.Validate(c, dir)
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

// Local is the fleet entry of the local cluster name, as `upshift
// bluegreen NAME` takes it without a fleet file.
func Local(name string) v1alpha1.Cluster {
	return v1alpha1.Cluster{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: name}},
	}
}
