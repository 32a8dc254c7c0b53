package apis

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"upshift.dev/upshift/internal/scan/manifest"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

// Checks of this package.
const (
	CheckRemoved    = "removed-api"
	CheckDeprecated = "deprecated-api"
)

func init() {
	report.CheckTitles[CheckRemoved] = "API version removed in the target Kubernetes version"
	report.CheckTitles[CheckDeprecated] = "Deprecated API version"
}

// Scanner classifies API versions against a target Kubernetes version.
type Scanner struct {
	Rules  *rules.Table
	Target rules.Version
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
		return report.Finding{}, false
	}
	f := report.Finding{
		Kind:         kind,
		APIVersion:   apiVersion,
		DeprecatedIn: r.Deprecated.String(),
		RemovedIn:    r.Removed.String(),
	}
	if rep := s.Rules.ReplacementAt(r, s.Target); !rep.Empty() {
		f.Replacement = rep.GroupVersion().String() + " " + rep.Kind
	}
	switch {
	case r.Removed.MinorAtOrBefore(s.Target):
		f.Check, f.Severity, f.BlocksTarget = CheckRemoved, report.SeverityError, true
		f.Message = fmt.Sprintf("%s %s was removed in Kubernetes %s; the target %s no longer serves it", apiVersion, kind, r.Removed, s.Target)
	case r.Deprecated.MinorAtOrBefore(s.Target):
		f.Check, f.Severity = CheckDeprecated, report.SeverityWarning
		f.Message = fmt.Sprintf("%s %s is deprecated since Kubernetes %s", apiVersion, kind, r.Deprecated)
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
