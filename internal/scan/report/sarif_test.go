package report

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
	"github.com/xeipuuv/gojsonschema"
)

// sarifSchema returns the OASIS SARIF 2.1.0 JSON schema (errata 01), as the
// go-sarif module carries it, so the test checks against the published
// schema without a copy of it in this repository.
func sarifSchema(t *testing.T) string {
	t.Helper()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/owenrumney/go-sarif/v3").Output()
	if err != nil {
		t.Fatalf("locating go-sarif's module: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "pkg/report/v210/sarif/schema.go"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "`")
	schema, _, ok2 := strings.Cut(rest, "`")
	if !ok || !ok2 || !strings.Contains(schema, `"Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"`) {
		t.Fatal("go-sarif no longer carries the SARIF 2.1.0 schema where this test reads it")
	}
	return schema
}

// TestSARIFMatchesTheSchema validates the SARIF output, with findings of
// every kind of location and with none, against the SARIF 2.1.0 schema, and
// reads it back with a SARIF library as a code-scanning consumer would.
func TestSARIFMatchesTheSchema(t *testing.T) {
	schema, err := gojsonschema.NewSchema(gojsonschema.NewStringLoader(sarifSchema(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		findings []Finding
	}{
		{"no findings", nil},
		{"findings", []Finding{
			{Check: "removed-api", Severity: SeverityError, Kind: "Ingress", Namespace: "shop", Name: "web", File: "charts/web/templates/ingress.yaml", Line: 7, Message: "removed in 1.22", Fix: "use networking.k8s.io/v1", BlocksTarget: true},
			{Check: "deprecated-api", Severity: SeverityWarning, Kind: "CronJob", Name: "nightly", File: "jobs.yaml", Message: "deprecated"},
			{Check: "pdb-blocks-drain", Severity: SeverityError, Kind: "PodDisruptionBudget", Namespace: "shop", Name: "db", Cluster: "prod", Source: "live state", Message: "maxUnavailable is 0", Fix: "allow one"},
			{Check: "missing-prestop", Severity: SeverityInfo, Kind: "Deployment", Namespace: "shop", Name: "web", Cluster: "prod", Message: "no preStop hook"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sample("apis", tc.findings...)
			var buf bytes.Buffer
			if err := r.Write(&buf, "sarif"); err != nil {
				t.Fatal(err)
			}
			res, err := schema.Validate(gojsonschema.NewBytesLoader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range res.Errors() {
				t.Errorf("not SARIF 2.1.0: %s", e)
			}
			log, err := sarif.FromBytes(buf.Bytes(), sarif.WithStrictValidation())
			if err != nil {
				t.Fatal(err)
			}
			if len(log.Runs) != 1 || len(log.Runs[0].Results) != len(tc.findings) {
				t.Fatalf("a SARIF reader sees %d runs, want 1 with %d results:\n%s", len(log.Runs), len(tc.findings), buf.String())
			}
			for i, got := range log.Runs[0].Results {
				want := r.Findings[i]
				if got.RuleID == nil || *got.RuleID != want.Check || got.Level != sarifLevel(want.Severity) {
					t.Errorf("result %d: rule %v level %q, want %s %s", i, got.RuleID, got.Level, want.Check, sarifLevel(want.Severity))
				}
			}
		})
	}
}
