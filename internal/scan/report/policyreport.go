package report

import (
	"io"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The PolicyReport API of the Kubernetes policy working group
// (wgpolicyk8s.io/v1alpha2), which Kyverno, policy-reporter and other
// policy engines read. Its Go types live in kubernetes-sigs/
// wg-policy-prototypes, which the module proxy does not serve; these
// carry the same JSON names, and TestPolicyReportOnAPIServer creates what
// they write on a real API server holding the working group's CRDs.
const policyReportAPIVersion = "wgpolicyk8s.io/v1alpha2"

type policyReport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Summary           policyReportSummary  `json:"summary"`
	Results           []policyReportResult `json:"results,omitempty"`
}

type policyReportSummary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
}

type policyReportResult struct {
	Source     string                   `json:"source"`
	Policy     string                   `json:"policy"`
	Rule       string                   `json:"rule,omitempty"`
	Category   string                   `json:"category,omitempty"`
	Severity   string                   `json:"severity,omitempty"`
	Timestamp  metav1.Timestamp         `json:"timestamp"`
	Result     string                   `json:"result"`
	Scored     bool                     `json:"scored,omitempty"`
	Resources  []corev1.ObjectReference `json:"resources,omitempty"`
	Message    string                   `json:"message,omitempty"`
	Properties map[string]string        `json:"properties,omitempty"`
}

// CheckUnreadable is the policy of a result for an input the scan could
// not read.
const CheckUnreadable = "readable-input"

// policyReports writes the report as a YAML stream `kubectl apply`
// takes: a PolicyReport for each namespace holding findings, and a
// ClusterPolicyReport for the rest (objects with no namespace, charts,
// inputs that could not be read). Errors fail, warnings and notes warn.
func (r *Report) policyReports(w io.Writer, now time.Time) error {
	ts := metav1.Timestamp{Seconds: now.Unix(), Nanos: int32(now.Nanosecond())}
	category := "Kubernetes API deprecations"
	if r.Scan != "apis" {
		category = "Upgrade readiness"
	}
	byNamespace := map[string]*policyReport{}
	report := func(ns string) *policyReport {
		if p, ok := byNamespace[ns]; ok {
			return p
		}
		p := &policyReport{TypeMeta: metav1.TypeMeta{APIVersion: policyReportAPIVersion, Kind: "PolicyReport"},
			ObjectMeta: metav1.ObjectMeta{Name: "upshift-scan-" + r.Scan, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "upshift"}}}
		if ns == "" {
			p.Kind = "ClusterPolicyReport"
		}
		if r.TargetVersion != "" {
			p.Annotations = map[string]string{"upshift.dev/target-version": r.TargetVersion}
		}
		byNamespace[ns] = p
		return p
	}
	add := func(ns string, res policyReportResult) {
		p := report(ns)
		switch res.Result {
		case "fail":
			p.Summary.Fail++
		case "warn":
			p.Summary.Warn++
		case "error":
			p.Summary.Error++
		}
		p.Results = append(p.Results, res)
	}
	for _, f := range r.Findings {
		res := policyReportResult{Source: "upshift", Policy: f.Check, Category: category, Timestamp: ts, Scored: true, Message: f.Message}
		switch f.Severity {
		case SeverityError:
			res.Result, res.Severity = "fail", "high"
		case SeverityWarning:
			res.Result, res.Severity = "warn", "medium"
		default:
			res.Result, res.Severity = "warn", "info"
		}
		if f.Kind != "" && f.Name != "" {
			res.Resources = []corev1.ObjectReference{{APIVersion: f.APIVersion, Kind: f.Kind, Name: f.Name, Namespace: f.Namespace}}
		}
		res.Properties = properties(map[string]string{
			"source": f.Source, "fix": f.Fix, "cluster": f.Cluster, "replacement": f.Replacement,
			"deprecatedIn": f.DeprecatedIn, "removedIn": f.RemovedIn, "component": f.Component, "confidence": f.Confidence,
		})
		add(f.Namespace, res)
	}
	for _, e := range r.Errors {
		add("", policyReportResult{Source: "upshift", Policy: CheckUnreadable, Category: category, Timestamp: ts, Result: "error", Message: "could not read: " + e})
	}
	namespaces := make([]string, 0, len(byNamespace))
	for ns := range byNamespace {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	if len(namespaces) == 0 {
		report("") // a clean scan says so: a report with nothing failing
		namespaces = []string{""}
	}
	for i, ns := range namespaces {
		data, err := yaml.Marshal(byNamespace[ns])
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// properties drops the empty values.
func properties(in map[string]string) map[string]string {
	for k, v := range in {
		if v == "" {
			delete(in, k)
		}
	}
	if len(in) == 0 {
		return nil
	}
	return in
}
