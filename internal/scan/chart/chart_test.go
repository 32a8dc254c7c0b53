package chart

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"upshift.dev/upshift/internal/scan/apis"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

// findings renders a chart of testdata at 1.37 and scans it as `scan
// apis` does, as "check kind name file:line" lines.
func findings(t *testing.T, chart string, o Options) ([]string, Rendered) {
	t.Helper()
	o.Target = rules.Version{Major: 1, Minor: 37}
	r := Render(filepath.Join("testdata", chart), o)
	var out []string
	for _, f := range append(r.Findings, apis.New(o.Target).Manifests(r.Objects)...) {
		out = append(out, fmt.Sprintf("%s %s %s %s", f.Check, f.Kind, f.Name, filepath.ToSlash(f.Source)))
	}
	slices.Sort(out)
	return out, r
}

// TestRenderChart: a chart is rendered as helm template renders it and
// each object is found at its template's line: a removed API after a
// comment, the second document of a template, an RBAC rule, a subchart's
// template and the chart's crds/; a disabled subchart, NOTES.txt, the
// helpers and values.yaml give nothing; a capability branch takes the
// target's side (batch/v1/CronJob is served at 1.37, so batch/v1 is
// rendered, not the removed batch/v1beta1); a declared dependency that is
// not vendored is a note, unless the values disable it (tracing).
func TestRenderChart(t *testing.T) {
	got, r := findings(t, "shop", Options{})
	want := []string{
		"removed-api CustomResourceDefinition widgets.shop.example testdata/shop/crds/widget.yaml:1",
		"rbac-removed-api-group ClusterRole release-name-shop-reader testdata/shop/templates/rbac.yaml:9",
		"removed-api HorizontalPodAutoscaler release-name-cache testdata/shop/charts/cache-0.1.0/templates/hpa.yaml:1",
		"removed-api Ingress release-name-shop-legacy testdata/shop/templates/ingress.yaml:10",
		"removed-api PodDisruptionBudget release-name-shop testdata/shop/templates/pdb.yaml:2",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(r.Errors) > 0 {
		t.Errorf("errors: %v", r.Errors)
	}
	var kinds []string
	for _, o := range r.Objects {
		kinds = append(kinds, o.APIVersion+" "+o.Kind)
	}
	if !slices.Contains(kinds, "batch/v1 CronJob") || !slices.Contains(kinds, "apps/v1 Deployment") || len(kinds) != 8 {
		t.Errorf("rendered objects %v: want the eight of the chart, cache and crds/ (CronJob at batch/v1)", kinds)
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "dependency search 2.0.0 is not in its charts/ folder") {
		t.Errorf("notes %q: want the missing dependency search named", r.Notes)
	}
}

// TestRenderValues: --values and --set change what is rendered as helm
// template's do (later wins, --set last), a missing required value is an
// error that says how to give it, and bad --set input is refused before
// any chart is read.
func TestRenderValues(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	writeFile(t, values, "ingress:\n  enabled: false\ncache:\n  enabled: false\n")
	got, _ := findings(t, "shop", Options{ValueFiles: []string{values}, Set: []string{"cache.enabled=true"}})
	for _, f := range got {
		if strings.Contains(f, "Ingress") {
			t.Errorf("ingress.enabled=false from --values: %q is still found", f)
		}
	}
	if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "HorizontalPodAutoscaler") }) {
		t.Errorf("--set cache.enabled=true after the file: the cache's HPA is not found in %q", got)
	}
	_, r := findings(t, "shop", Options{Set: []string{"image.tag=null"}})
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Error(), "image.tag is required") || !strings.Contains(r.Errors[0].Error(), "--values or --set") || len(r.Objects) != 0 {
		t.Errorf("a required value unset: errors %v, %d objects; want one error naming it and the flags", r.Errors, len(r.Objects))
	}
	for _, o := range []Options{{Set: []string{"a.b"}}, {ValueFiles: []string{filepath.Join(t.TempDir(), "missing.yaml")}}} {
		if _, err := o.Values(); err == nil {
			t.Errorf("%+v: values accepted", o)
		}
	}
}

// TestChartKubeVersion: a chart whose kubeVersion excludes the target is
// an error at its Chart.yaml's kubeVersion line; its templates are still
// scanned.
func TestChartKubeVersion(t *testing.T) {
	got, r := findings(t, "legacy", Options{})
	if want := []string{"chart-kube-version Chart legacy testdata/legacy/Chart.yaml:5"}; !slices.Equal(got, want) {
		t.Errorf("findings %q, want %q", got, want)
	}
	if len(r.Findings) != 1 || r.Findings[0].Severity != report.SeverityError || !r.Findings[0].BlocksTarget || !strings.Contains(r.Findings[0].Message, `"<1.25.0-0"`) {
		t.Errorf("finding %+v: want a blocking error quoting the constraint", r.Findings)
	}
	if len(r.Objects) != 1 {
		t.Errorf("%d objects rendered, want the ConfigMap", len(r.Objects))
	}
}

// TestServedAt: .Capabilities.APIVersions at the target keeps what is
// served, kind by kind, and drops a group/version none of whose kinds is.
func TestServedAt(t *testing.T) {
	at := func(minor int) []string { return servedAt(rules.Default(), rules.Version{Major: 1, Minor: minor}) }
	for _, c := range []struct {
		minor int
		has   string
		want  bool
	}{
		{37, "batch/v1/CronJob", true},
		{37, "apps/v1", true},
		{37, "policy/v1/PodDisruptionBudget", true},
		{37, "autoscaling/v2beta2", false},
		{24, "autoscaling/v2beta2/HorizontalPodAutoscaler", true},
		{37, "autoscaling/v2beta2/HorizontalPodAutoscaler", false},
		{37, "v1/Pod", true},
	} {
		if got := slices.Contains(at(c.minor), c.has); got != c.want {
			t.Errorf("1.%d has %s: %v, want %v", c.minor, c.has, got, c.want)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRenderPackagedChart: a chart packaged as helm package makes it
// (a .tgz) renders as its folder does, findings named inside the archive.
func TestRenderPackagedChart(t *testing.T) {
	ch, err := loader.Load(filepath.Join("testdata", "shop"))
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := Render(tgz, Options{Target: rules.Version{Major: 1, Minor: 37}})
	var got []string
	for _, f := range apis.New(rules.Version{Major: 1, Minor: 37}).Manifests(r.Objects) {
		got = append(got, strings.TrimPrefix(f.Source, tgz+string(filepath.Separator)))
	}
	slices.Sort(got)
	want := []string{"charts/cache/templates/hpa.yaml:1", "crds/widget.yaml:1", "templates/ingress.yaml:10", "templates/pdb.yaml:2", "templates/rbac.yaml:9"}
	if !slices.Equal(got, want) || len(r.Errors) > 0 {
		t.Errorf("packaged chart: %q, errors %v; want %q", got, r.Errors, want)
	}
}

// TestSubchartsFoundOnDisk: a subchart's findings name the file on disk,
// not the name the chart tree gives it: a vendored folder named other
// than its chart, an alias of it, and a packaged subchart (the archive
// `helm dependency build` writes).
func TestSubchartsFoundOnDisk(t *testing.T) {
	dir := t.TempDir()
	pdb := "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: {{ .Chart.Name }}-{{ .Values.who | default \"x\" }}\nspec:\n  minAvailable: 1\n"
	writeFile(t, filepath.Join(dir, "Chart.yaml"), "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n"+
		"  - {name: lib, version: 0.1.0}\n  - {name: lib, version: 0.1.0, alias: sessions}\n  - {name: pkg, version: 1.0.0}\n")
	writeFile(t, filepath.Join(dir, "values.yaml"), "sessions:\n  who: sessions\n")
	lib := filepath.Join(dir, "charts", "lib-folder")
	if err := os.MkdirAll(filepath.Join(lib, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(lib, "Chart.yaml"), "apiVersion: v2\nname: lib\nversion: 0.1.0\n")
	writeFile(t, filepath.Join(lib, "templates", "pdb.yaml"), pdb)
	pkg := &chartv2.Chart{Metadata: &chartv2.Metadata{APIVersion: "v2", Name: "pkg", Version: "1.0.0"},
		Templates: []*common.File{{Name: "templates/pdb.yaml", Data: []byte(pdb)}}}
	if _, err := chartutil.Save(pkg, filepath.Join(dir, "charts")); err != nil {
		t.Fatal(err)
	}
	r := Render(dir, Options{Target: rules.Version{Major: 1, Minor: 37}})
	if len(r.Errors) > 0 || len(r.Notes) > 0 {
		t.Fatalf("errors %v, notes %v", r.Errors, r.Notes)
	}
	var got []string
	for _, f := range apis.New(rules.Version{Major: 1, Minor: 37}).Manifests(r.Objects) {
		rel, _ := filepath.Rel(dir, f.File)
		got = append(got, fmt.Sprintf("%s %s:%d", f.Name, filepath.ToSlash(rel), f.Line))
	}
	slices.Sort(got)
	want := []string{"lib-x charts/lib-folder/templates/pdb.yaml:1", "pkg-x charts/pkg-1.0.0.tgz/templates/pdb.yaml:1", "sessions-sessions charts/lib-folder/templates/pdb.yaml:1"}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
