package plan

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/yamlstream"
)

// Documents are the objects of a run file or a profiles file.
type Documents struct {
	Run        *v1alpha1.UpdateRun
	Strategies map[string]*v1alpha1.UpdateStrategy
	// Profiles in file order (profiles files only).
	Profiles []*v1alpha1.AutoUpgradeProfile
}

// Parse reads a YAML stream holding one UpdateRun and any UpdateStrategy
// objects it refers to. Unknown fields are errors.
func Parse(name string, data []byte) (*Documents, error) {
	docs, err := parse(name, data, "a run file holds UpdateRun and UpdateStrategy objects", "UpdateRun", "UpdateStrategy")
	if err != nil {
		return nil, err
	}
	if docs.Run == nil {
		return nil, fmt.Errorf("%s: no UpdateRun object", name)
	}
	return docs, nil
}

// ParseProfiles reads a profiles file: AutoUpgradeProfile objects and the
// UpdateStrategy objects they name. Unknown fields are errors.
func ParseProfiles(name string, data []byte) (*Documents, error) {
	docs, err := parse(name, data, "a profiles file holds AutoUpgradeProfile and UpdateStrategy objects", "AutoUpgradeProfile", "UpdateStrategy")
	if err != nil {
		return nil, err
	}
	if len(docs.Profiles) == 0 {
		return nil, fmt.Errorf("%s: no AutoUpgradeProfile object", name)
	}
	return docs, nil
}

// ParseStrategy reads the strategy of a file: the UpdateStrategy named
// (when name is set), else its only UpdateStrategy, else the inline
// strategy of its UpdateRun. A run file or a strategies file will do.
func ParseStrategy(file string, data []byte, name string) (*v1alpha1.UpdateStrategySpec, error) {
	docs, err := parse(file, data, "a strategy file holds UpdateStrategy objects (or an UpdateRun and its strategy)", "UpdateRun", "UpdateStrategy")
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range docs.Strategies {
		names = append(names, n)
	}
	sort.Strings(names)
	var spec *v1alpha1.UpdateStrategySpec
	switch {
	case name != "":
		s, ok := docs.Strategies[name]
		if !ok {
			return nil, fmt.Errorf("%s holds no UpdateStrategy %q (it holds %s)", file, name, orNone(names))
		}
		spec = &s.Spec
	case len(docs.Strategies) == 1:
		spec = &docs.Strategies[names[0]].Spec
	case len(docs.Strategies) > 1 && docs.Run != nil && docs.Run.Spec.StrategyRef != nil:
		s, ok := docs.Strategies[docs.Run.Spec.StrategyRef.Name]
		if !ok {
			return nil, fmt.Errorf("%s: spec.strategyRef names UpdateStrategy %q, which the file does not hold", file, docs.Run.Spec.StrategyRef.Name)
		}
		spec = &s.Spec
	case len(docs.Strategies) > 1:
		return nil, fmt.Errorf("%s holds %d strategies (%s): name one", file, len(names), strings.Join(names, ", "))
	case docs.Run != nil && docs.Run.Spec.Strategy != nil:
		spec = docs.Run.Spec.Strategy
	default:
		return nil, fmt.Errorf("%s holds no strategy", file)
	}
	if err := NormalizeAzureGates(file, spec); err != nil {
		return nil, err
	}
	return spec, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// VersionKeys are the fields that hold a Kubernetes version: a bare
// number there (1.40 read as 1.4) is refused with "quote it".
var VersionKeys = []string{"kubernetesVersion", "targetKubernetesVersion"}

func parse(name string, data []byte, holds string, kinds ...string) (*Documents, error) {
	docs := &Documents{Strategies: map[string]*v1alpha1.UpdateStrategy{}}
	err := yamlstream.Each(name, data, func(i int, doc []byte) error {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if meta.APIVersion != v1alpha1.GroupVersion {
			return fmt.Errorf("%s: document %d: apiVersion %q: want %s", name, i, meta.APIVersion, v1alpha1.GroupVersion)
		}
		if !slices.Contains(kinds, meta.Kind) {
			return fmt.Errorf("%s: document %d: kind %q: %s", name, i, meta.Kind, holds)
		}
		if err := yamlstream.Quoted(name, data, i, doc, VersionKeys...); err != nil {
			return err
		}
		switch meta.Kind {
		case "UpdateRun":
			if docs.Run != nil {
				return fmt.Errorf("%s: document %d: a run file holds one UpdateRun", name, i)
			}
			var run v1alpha1.UpdateRun
			if err := decodeStrict(name, data, i, doc, &run); err != nil {
				return err
			}
			docs.Run = &run
		case "UpdateStrategy":
			var s v1alpha1.UpdateStrategy
			if err := decodeStrict(name, data, i, doc, &s); err != nil {
				return err
			}
			docs.Strategies[s.Name] = &s
		case "AutoUpgradeProfile":
			var p v1alpha1.AutoUpgradeProfile
			if err := decodeStrict(name, data, i, doc, &p); err != nil {
				return err
			}
			docs.Profiles = append(docs.Profiles, &p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// decodeStrict decodes one document strictly. A key that names a field
// only when case is ignored (switchTtl for switchTTL), which the JSON
// decoder takes silently, is refused as an unknown field.
func decodeStrict(name string, data []byte, i int, doc []byte, into any) error {
	if err := yaml.UnmarshalStrict(doc, into); err != nil {
		return decodeError(name, data, i, doc, into, err)
	}
	return yamlstream.UnknownField(name, data, i, doc, into)
}

// decodeError says where a document that does not decode goes wrong: an
// unknown field by its path and line in the user's file, with the known
// name it is closest to; else the decoder's own words.
func decodeError(name string, data []byte, i int, doc []byte, into any, err error) error {
	if unknown := yamlstream.UnknownField(name, data, i, doc, into); unknown != nil {
		return unknown
	}
	kind := reflect.TypeOf(into).Elem().Name()
	return fmt.Errorf("%s: document %d (%s): %w", name, i, kind, err)
}

// ParseAzureStages reads Azure Fleet's stage file (the `--stages` JSON of
// `az fleet updaterun create`) unchanged:
// {"stages":[{"name":"dev","groups":[{"name":"dev-clusters"}],"afterStageWaitInSeconds":1800}]}.
func ParseAzureStages(name string, data []byte) (*v1alpha1.UpdateStrategySpec, error) {
	var s v1alpha1.UpdateStrategySpec
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w (expected Azure Fleet's {\"stages\":[{\"name\":...,\"groups\":[{\"name\":...}],\"afterStageWaitInSeconds\":...}]})", name, err)
	}
	if len(s.Stages) == 0 {
		return nil, fmt.Errorf("%s: no stages", name)
	}
	if err := NormalizeAzureGates(name, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// NormalizeAzureGates turns Azure Fleet's stage gates (beforeGates,
// afterGates of type Approval) into approval tasks.
func NormalizeAzureGates(name string, s *v1alpha1.UpdateStrategySpec) error {
	for i := range s.Stages {
		st := &s.Stages[i]
		for _, gates := range []struct {
			list []v1alpha1.AzureGate
			into *[]v1alpha1.StageTask
			side string
		}{{st.BeforeGates, &st.BeforeStageTasks, "beforeGates"}, {st.AfterGates, &st.AfterStageTasks, "afterGates"}} {
			for j, g := range gates.list {
				if g.Type != v1alpha1.TaskApproval {
					return fmt.Errorf("%s: stages[%d].%s[%d].type %q: Azure stage gates are of type Approval", name, i, gates.side, j, g.Type)
				}
				*gates.into = append(*gates.into, v1alpha1.StageTask{Type: v1alpha1.TaskApproval, Name: approvalName(g.DisplayName, gates.side, j)})
			}
		}
		st.BeforeGates, st.AfterGates = nil, nil
	}
	return nil
}

// approvalName makes an Azure gate's display name usable as a task name.
func approvalName(display, side string, i int) string {
	var b []rune
	for _, r := range strings.ToLower(display) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b = append(b, r)
		case len(b) > 0 && b[len(b)-1] != '-':
			b = append(b, '-')
		}
	}
	if name := strings.Trim(string(b), "-"); name != "" {
		return name
	}
	return fmt.Sprintf("%s-%d", strings.TrimSuffix(side, "Gates"), i)
}
