package rules

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"
)

//go:embed addons.yaml
var addonsYAML []byte

// addonEntry is one entry of addons.yaml.
type addonEntry struct {
	Component   string   `json:"component"`
	APIVersions []string `json:"apiVersions"`
	Kinds       []string `json:"kinds"`
	Deprecated  string   `json:"deprecated"`
	Removed     string   `json:"removed"`
	// Replacement is "group/version", the same kind, or "group/version
	// Kind" where the kind changed.
	Replacement string `json:"replacement"`
	Source      string `json:"source"`
}

// ParseAddonVersion reads an add-on's own release ("1.6", "v1.6.0",
// "0.11"): its major and minor, which is what the rules compare.
func ParseAddonVersion(s string) (Version, error) {
	v, err := utilversion.ParseGeneric(strings.TrimSpace(s))
	if err != nil {
		return Version{}, fmt.Errorf("%q is not a release: write MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.6", s)
	}
	return Version{Major: int(v.Major()), Minor: int(v.Minor())}, nil
}

// addonRules reads addons.yaml; a mistake in it is a programming error
// that TestAddonRules catches.
func addonRules() ([]Rule, error) {
	var entries []addonEntry
	if err := yaml.UnmarshalStrict(addonsYAML, &entries); err != nil {
		return nil, fmt.Errorf("addons.yaml: %w", err)
	}
	var out []Rule
	for i, e := range entries {
		bad := func(what string, err error) error {
			return fmt.Errorf("addons.yaml entry %d (%s): %s: %w", i+1, e.Component, what, err)
		}
		if e.Component == "" || e.Source == "" || len(e.APIVersions) == 0 || len(e.Kinds) == 0 {
			return nil, bad("incomplete", fmt.Errorf("component, apiVersions, kinds and source are required"))
		}
		dep, err := ParseAddonVersion(e.Deprecated)
		if err != nil {
			return nil, bad("deprecated", err)
		}
		rem, err := ParseAddonVersion(e.Removed)
		if err != nil {
			return nil, bad("removed", err)
		}
		repAPI, repKind, _ := strings.Cut(e.Replacement, " ")
		repGV, err := schema.ParseGroupVersion(repAPI)
		if err != nil {
			return nil, bad("replacement", err)
		}
		for _, av := range e.APIVersions {
			gv, err := schema.ParseGroupVersion(av)
			if err != nil {
				return nil, bad("apiVersions", err)
			}
			for _, kind := range e.Kinds {
				r := Rule{GVK: gv.WithKind(kind), Deprecated: dep, Removed: rem, Component: e.Component, Source: e.Source}
				if repAPI != "" {
					k := repKind
					if k == "" {
						k = kind
					}
					r.Replacement = repGV.WithKind(k)
				}
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// Components are the add-ons the rules know, sorted.
func (t *Table) Components() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range t.addons {
		if !seen[r.Component] {
			seen[r.Component] = true
			out = append(out, r.Component)
		}
	}
	sort.Strings(out)
	return out
}

// LookupAddon returns the rule of an add-on's group/version/kind.
func (t *Table) LookupAddon(gvk schema.GroupVersionKind) (Rule, bool) {
	r, ok := t.addons[gvk]
	return r, ok
}
