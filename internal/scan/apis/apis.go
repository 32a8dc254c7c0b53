package apis

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"upshift.dev/upshift/internal/scan/manifest"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

// Checks of this package.
const (
	CheckRemoved    = "removed-api"
	CheckDeprecated = "deprecated-api"
	// CheckRBACGroup: a Role grants a resource in an API group that serves
	// it in no version at the target (pluto#104): the grant grants
	// nothing, and whoever relied on it loses access.
	CheckRBACGroup = "rbac-removed-api-group"
)

func init() {
	report.CheckTitles[CheckRemoved] = "API version removed in the target Kubernetes version"
	report.CheckTitles[CheckDeprecated] = "Deprecated API version"
	report.CheckTitles[CheckRBACGroup] = "RBAC rule grants resources in an API group that no longer serves them"
}

// Scanner classifies API versions against a target Kubernetes version,
// and add-ons' APIs against the add-on releases named.
type Scanner struct {
	Rules  *rules.Table
	Target rules.Version
	// Addons are the add-on releases to check against (--target
	// cert-manager=1.6); an add-on not named here is checked against
	// every release the rules know, and its findings do not block.
	Addons map[string]rules.Version
}

// New returns a scanner with the default rules.
func New(target rules.Version) *Scanner { return &Scanner{Rules: rules.Default(), Target: target} }

// classify returns a finding for an API version of a kind, if the target
// deprecates or removes it.
func (s *Scanner) classify(apiVersion, kind string) (report.Finding, bool) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return report.Finding{}, false
	}
	r, ok := s.Rules.Lookup(gv.WithKind(kind))
	if !ok {
		if r, ok = s.Rules.LookupAddon(gv.WithKind(kind)); !ok {
			return report.Finding{}, false
		}
	}
	target, product, named := s.Target, "Kubernetes", true
	if r.Component != "" {
		product = r.Component
		target, named = s.Addons[r.Component]
	}
	f := report.Finding{
		Kind:         kind,
		APIVersion:   apiVersion,
		DeprecatedIn: r.Deprecated.String(),
		RemovedIn:    r.Removed.String(),
		Component:    r.Component,
	}
	if rep := s.Rules.ReplacementAt(r, target); !rep.Empty() {
		f.Replacement = rep.GroupVersion().String() + " " + rep.Kind
	}
	switch {
	case !named:
		// An add-on whose release the user did not name: said, never
		// blocking, with how to name it.
		f.Check, f.Severity = CheckDeprecated, report.SeverityWarning
		f.Message = fmt.Sprintf("%s %s is deprecated since %s %s", apiVersion, kind, product, r.Deprecated)
		if !r.Removed.IsZero() {
			f.Message += fmt.Sprintf(" and removed in %s", r.Removed)
		}
		f.Message += fmt.Sprintf("; name your %s release with --target %s=VERSION to know whether it still serves it", product, product)
	case r.Removed.MinorAtOrBefore(target):
		f.Check, f.Severity, f.BlocksTarget = CheckRemoved, report.SeverityError, true
		if r.Component == "" {
			f.Message = fmt.Sprintf("%s %s was removed in Kubernetes %s; the target %s no longer serves it", apiVersion, kind, r.Removed, target)
		} else {
			f.Message = fmt.Sprintf("%s %s was removed in %s %s; %s %s no longer serves it", apiVersion, kind, product, r.Removed, product, target)
		}
	case r.Deprecated.MinorAtOrBefore(target):
		f.Check, f.Severity = CheckDeprecated, report.SeverityWarning
		f.Message = fmt.Sprintf("%s %s is deprecated since %s %s", apiVersion, kind, product, r.Deprecated)
		if !r.Removed.IsZero() {
			f.Message += fmt.Sprintf(" and will be removed in %s", r.Removed)
		}
	default:
		return report.Finding{}, false
	}
	if f.Replacement != "" {
		f.Fix = "move to " + f.Replacement
	} else {
		f.Fix = "remove it: it has no replacement"
	}
	return f, true
}

// Manifests scans objects read from files.
func (s *Scanner) Manifests(objs []manifest.Object) []report.Finding {
	var out []report.Finding
	for _, o := range objs {
		out = append(out, s.grants(o)...)
		f, ok := s.classify(o.APIVersion, o.Kind)
		if !ok {
			continue
		}
		f.Name, f.Namespace = o.Name, o.Namespace
		f.File, f.Line, f.Source = o.File, o.Line, o.Location()
		out = append(out, f)
	}
	return out
}

// grants finds the rules of a Role or ClusterRole that grant resources in
// an API group serving them in no version at the target: one finding per
// rule and group, naming the resources and where they moved.
func (s *Scanner) grants(o manifest.Object) []report.Finding {
	var out []report.Finding
	for _, r := range o.Rules {
		for _, group := range r.APIGroups {
			var dead, moved []string
			var removed rules.Version
			for _, res := range r.Resources {
				base, _, _ := strings.Cut(res, "/") // deployments/scale
				g := s.Rules.GrantAt(group, base, s.Target)
				if !g.Known || g.Served || slices.Contains(dead, res) {
					continue
				}
				dead = append(dead, res)
				if g.Removed.Compare(removed) > 0 {
					removed = g.Removed
				}
				if !g.Replacement.Empty() && !slices.Contains(moved, g.Replacement.Group) {
					moved = append(moved, g.Replacement.Group)
				}
			}
			if len(dead) == 0 {
				continue
			}
			f := report.Finding{Check: CheckRBACGroup, Severity: report.SeverityWarning, Kind: o.Kind, Name: o.Name, Namespace: o.Namespace,
				File: o.File, Line: r.Line, Source: fmt.Sprintf("%s:%d", o.File, r.Line), RemovedIn: removed.String(),
				Message: fmt.Sprintf("the rule grants %s in apiGroup %q, which serves them in no version at Kubernetes %s (the last removed in %s): it grants nothing there",
					strings.Join(dead, ", "), group, s.Target, removed)}
			if len(moved) > 0 {
				f.Fix = "grant them in apiGroups " + strings.Join(moved, ", ")
			} else {
				f.Fix = "remove them from the rule: no API group serves them"
			}
			out = append(out, f)
		}
	}
	return out
}
