package crds_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestChartCarriesTheseCRDs checks that the Helm chart installs the CRDs
// and alert rules of this commit, not stale copies: `make generate`
// refreshes them.
func TestChartCarriesTheseCRDs(t *testing.T) {
	pairs := map[string]string{"../../deploy/prometheus/upshift-rules.yaml": "../../charts/upshift/files/upshift-rules.yaml"}
	bases, err := filepath.Glob("bases/*.yaml")
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs under bases/: %v", err)
	}
	for _, b := range bases {
		pairs[b] = filepath.Join("../../charts/upshift/crds", filepath.Base(b))
	}
	inChart, _ := filepath.Glob("../../charts/upshift/crds/*.yaml")
	if len(inChart) != len(bases) {
		t.Errorf("the chart holds %d CRDs, internal/crds/bases %d: run make generate", len(inChart), len(bases))
	}
	for src, copy := range pairs {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(copy)
		if err != nil {
			t.Errorf("%v: run make generate", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s: run make generate", copy, src)
		}
	}
}
