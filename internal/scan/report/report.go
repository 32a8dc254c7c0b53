package report

import (
	"sort"
	"strings"

	"upshift.dev/upshift/internal/exitcode"
)

// Severities, most severe first.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
	SeverityInfo    = "info"
)

// Finding is one problem found by a scan.
type Finding struct {
	Check     string `json:"check"`    // e.g. removed-api, pdb-blocks-drain
	Severity  string `json:"severity"` // error, warning, info
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Cluster   string `json:"cluster,omitempty"`
	// Source says where the finding was seen: file:line, or how it was
	// seen in a cluster.
	Source  string `json:"source"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`

	// Deprecated/removed API findings.
	APIVersion   string `json:"apiVersion,omitempty"`
	DeprecatedIn string `json:"deprecatedIn,omitempty"`
	RemovedIn    string `json:"removedIn,omitempty"`
	// Component is the add-on whose releases DeprecatedIn and RemovedIn
	// are (cert-manager, istio); empty for Kubernetes.
	Component    string `json:"component,omitempty"`
	Replacement  string `json:"replacement,omitempty"`
	BlocksTarget bool   `json:"blocksTarget,omitempty"`
	// Confidence of a live-cluster finding: high, medium or low, with why.
	Confidence string `json:"confidence,omitempty"`
}

// Object renders namespace/Kind/name.
func (f Finding) Object() string {
	var b strings.Builder
	if f.Kind != "" {
		b.WriteString(f.Kind)
		b.WriteString(" ")
	}
	if f.Namespace != "" {
		b.WriteString(f.Namespace)
		b.WriteString("/")
	}
	b.WriteString(f.Name)
	return strings.TrimSpace(b.String())
}

// Report is a scan's result.
type Report struct {
	Scan          string    `json:"scan"` // apis or readiness
	TargetVersion string    `json:"targetVersion,omitempty"`
	Sources       []string  `json:"sources"`
	Findings      []Finding `json:"findings"`
	// Errors are inputs that could not be read; the scan went on without
	// them.
	Errors []string `json:"errors,omitempty"`
	// Skipped are documents that are no Kubernetes objects (a chart's
	// Chart.yaml and values.yaml, plain data); they change no exit code.
	Skipped []string `json:"skipped,omitempty"`
	// Notes bound what the scan can know (a target newer than its rules).
	Notes   []string `json:"notes,omitempty"`
	Summary Summary  `json:"summary"`
}

// Summary counts findings.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
	// Blocking counts API findings removed in the target version.
	Blocking     int `json:"blocking"`
	InputsFailed int `json:"inputsFailed"`
}

// Finish sorts the findings and fills the summary.
func (r *Report) Finish() {
	rank := map[string]int{SeverityError: 0, SeverityWarning: 1, SeverityInfo: 2}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if rank[a.Severity] != rank[b.Severity] {
			return rank[a.Severity] < rank[b.Severity]
		}
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Object() < b.Object()
	})
	r.Summary = Summary{InputsFailed: len(r.Errors)}
	for _, f := range r.Findings {
		switch f.Severity {
		case SeverityError:
			r.Summary.Errors++
		case SeverityWarning:
			r.Summary.Warnings++
		default:
			r.Summary.Infos++
		}
		if f.BlocksTarget {
			r.Summary.Blocking++
		}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
}

// Exit codes of scans (internal/exitcode). The most severe applies.
const (
	ExitClean        = exitcode.OK
	ExitDeprecated   = exitcode.Deprecated
	ExitRemoved      = exitcode.Removed
	ExitInputsFailed = exitcode.InputsFailed
	ExitReadiness    = exitcode.Readiness
)

// ExitCode returns the code of an API scan.
func (r *Report) ExitCode(failOn string) int {
	if r.Scan == "readiness" {
		for _, f := range r.Findings {
			if AtLeast(f.Severity, failOn) {
				return ExitReadiness
			}
		}
	} else {
		switch {
		case r.Summary.Blocking > 0:
			return ExitRemoved
		case r.Summary.Errors+r.Summary.Warnings > 0:
			return ExitDeprecated
		}
	}
	if r.Summary.InputsFailed > 0 {
		return ExitInputsFailed
	}
	return ExitClean
}

// AtLeast reports whether severity reaches threshold (error, warning,
// info; none is never reached; anything else means error).
func AtLeast(severity, threshold string) bool {
	rank := map[string]int{SeverityError: 3, SeverityWarning: 2, SeverityInfo: 1, "none": 99}
	t, ok := rank[threshold]
	if !ok {
		t = rank[SeverityError]
	}
	return rank[severity] >= t
}
