package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

func sample(scan string, findings ...Finding) *Report {
	r := &Report{Scan: scan, TargetVersion: "1.34", Findings: findings}
	r.Finish()
	return r
}

func TestExitCodes(t *testing.T) {
	removed := Finding{Check: "removed-api", Severity: SeverityError, BlocksTarget: true}
	deprecated := Finding{Check: "deprecated-api", Severity: SeverityWarning}
	info := Finding{Check: "deprecated-api", Severity: SeverityInfo}
	withErrors := func(r *Report) *Report { r.Errors = []string{"x.yaml:3: cannot parse"}; r.Finish(); return r }
	for _, tc := range []struct {
		name   string
		r      *Report
		failOn string
		want   int
	}{
		{"clean", sample("apis"), "", ExitClean},
		{"info only", sample("apis", info), "", ExitClean},
		{"deprecated", sample("apis", deprecated, info), "", ExitDeprecated},
		{"removed wins", sample("apis", deprecated, removed), "", ExitRemoved},
		{"unreadable input", withErrors(sample("apis")), "", ExitInputsFailed},
		{"removed beats unreadable", withErrors(sample("apis", removed)), "", ExitRemoved},
		{"readiness error", sample("readiness", Finding{Severity: SeverityError}), SeverityError, ExitReadiness},
		{"readiness warning under error", sample("readiness", Finding{Severity: SeverityWarning}), SeverityError, ExitClean},
		{"readiness warning at warning", sample("readiness", Finding{Severity: SeverityWarning}), SeverityWarning, ExitReadiness},
		{"readiness none", sample("readiness", Finding{Severity: SeverityError}), "none", ExitClean},
	} {
		if got := tc.r.ExitCode(tc.failOn); got != tc.want {
			t.Errorf("%s: exit code %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestRenderings(t *testing.T) {
	r := sample("apis",
		Finding{Check: "deprecated-api", Severity: SeverityWarning, Kind: "PodDisruptionBudget", Name: "b", File: "a.yaml", Line: 7, Source: "a.yaml:7", Message: "deprecated", Fix: "move"},
		Finding{Check: "removed-api", Severity: SeverityError, Kind: "Ingress", Namespace: "shop", Name: "web", Cluster: "prod", Source: "managedFields (helm)", Message: "removed", Fix: "move", BlocksTarget: true},
	)
	if r.Findings[0].Check != "removed-api" {
		t.Errorf("errors do not sort first: %+v", r.Findings)
	}
	for _, format := range Formats {
		var buf bytes.Buffer
		if err := r.Write(&buf, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		out := buf.String()
		switch format {
		case "table":
			if !strings.Contains(out, "prod: managedFields (helm)") || !strings.HasSuffix(strings.TrimSpace(out), r.SummaryLine()) {
				t.Errorf("table:\n%s", out)
			}
		case "json", "sarif":
			var v map[string]any
			if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
				t.Errorf("%s is not JSON: %v", format, err)
			}
			if format == "sarif" && (!strings.Contains(out, `"startLine": 7`) || !strings.Contains(out, `"version": "2.1.0"`)) {
				t.Errorf("sarif:\n%s", out)
			}
		case "junit":
			var v struct {
				Suites []struct {
					Failures int `xml:"failures,attr"`
				} `xml:"testsuite"`
			}
			if err := xml.Unmarshal(buf.Bytes(), &v); err != nil || len(v.Suites) != 1 || v.Suites[0].Failures != 2 {
				t.Errorf("junit %+v, %v:\n%s", v, err, out)
			}
		}
	}
	if err := r.Write(&bytes.Buffer{}, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}

// TestPolicyReportShape: a clean scan is one ClusterPolicyReport with
// nothing failing (a policy engine then shows the scan ran and passed);
// findings go to their namespace's PolicyReport, counted in its summary,
// with the object as the result's resource.
func TestPolicyReportShape(t *testing.T) {
	var out strings.Builder
	clean := &Report{Scan: "apis", TargetVersion: "1.37"}
	clean.Finish()
	if err := clean.Write(&out, "policyreport"); err != nil || strings.Count(out.String(), "kind:") != 1 || !strings.Contains(out.String(), "kind: ClusterPolicyReport") || !strings.Contains(out.String(), "fail: 0") {
		t.Errorf("clean scan (%v):\n%s", err, out.String())
	}
	out.Reset()
	rep := &Report{Scan: "apis", Findings: []Finding{
		{Check: "removed-api", Severity: SeverityError, Kind: "Ingress", Name: "web", Namespace: "shop", APIVersion: "extensions/v1beta1", Message: "removed"},
		{Check: "deprecated-api", Severity: SeverityWarning, Kind: "FlowSchema", Name: "fs", APIVersion: "flowcontrol.apiserver.k8s.io/v1beta3", Message: "deprecated"},
	}}
	rep.Finish()
	if err := rep.Write(&out, "policyreport"); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out.String(), "---\n")
	if len(docs) != 2 || !strings.Contains(docs[0], "kind: ClusterPolicyReport") || !strings.Contains(docs[0], "warn: 1") ||
		!strings.Contains(docs[1], "kind: PolicyReport") || !strings.Contains(docs[1], "namespace: shop") || !strings.Contains(docs[1], "fail: 1") || !strings.Contains(docs[1], "name: web") {
		t.Errorf("reports:\n%s", out.String())
	}
}
