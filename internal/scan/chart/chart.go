package chart

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/scan/manifest"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

// CheckKubeVersion: the chart's kubeVersion constraint excludes the
// target, so Helm will refuse to install or upgrade it there.
const CheckKubeVersion = "chart-kube-version"

func init() {
	report.CheckTitles[CheckKubeVersion] = "Chart does not allow the target Kubernetes version"
}

// Options say how charts are rendered: values as `helm template` takes
// them, for the scan's target.
type Options struct {
	ValueFiles []string // --values, merged in order over the chart's own
	Set        []string // --set key=value[,key=value], after the files
	SetString  []string // --set-string, after --set
	Target     rules.Version
	Rules      *rules.Table // the API versions the target serves; nil: rules.Default()
}

// Values merges the user's values as Helm does: files in order, then
// --set, then --set-string. An error names the flag and what is wrong.
func (o Options) Values() (map[string]any, error) {
	vals := map[string]any{}
	for _, f := range o.ValueFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--values %s: %w", f, err)
		}
		m, err := loader.LoadValues(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("--values %s: %w", f, err)
		}
		vals = loader.MergeMaps(vals, m)
	}
	for _, s := range o.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	for _, s := range o.SetString {
		if err := strvals.ParseIntoString(s, vals); err != nil {
			return nil, fmt.Errorf("--set-string %s: %w", s, err)
		}
	}
	return vals, nil
}

// Rendered is what one chart gave the scan.
type Rendered struct {
	// Objects are the rendered objects and the chart's CRDs, each at the
	// template (or crds/ file) and line it comes from.
	Objects []manifest.Object
	// Errors: the chart could not be loaded or rendered, or a rendered
	// document is no YAML.
	Errors []error
	// Findings about the chart itself (its kubeVersion constraint).
	Findings []report.Finding
	// Notes say what was not scanned, and why.
	Notes []string
}

// Render renders the chart at dir (a chart's folder or a packaged .tgz)
// as `helm template` would with the release name "release-name" in the
// namespace "default", at the target's capabilities.
func Render(dir string, o Options) Rendered {
	var out Rendered
	fail := func(what string, err error) Rendered {
		out.Errors = append(out.Errors, fmt.Errorf("chart %s: %s: %w", dir, what, err))
		return out
	}
	ch, err := loader.Load(dir)
	if err != nil {
		return fail("cannot load it", err)
	}
	kubeVersion := fmt.Sprintf("v%d.%d.0", o.Target.Major, o.Target.Minor)
	if c := ch.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, kubeVersion) {
		file := filepath.Join(dir, "Chart.yaml")
		line := max(lineOf(readSource(file), "kubeVersion:", 0), 1)
		out.Findings = append(out.Findings, report.Finding{
			Check: CheckKubeVersion, Severity: report.SeverityError, BlocksTarget: true,
			Kind: "Chart", Name: ch.Name(), File: file, Line: line, Source: fmt.Sprintf("%s:%d", file, line),
			Message: fmt.Sprintf("chart %s %s requires kubeVersion %q, which Kubernetes %s does not meet: Helm will refuse to install or upgrade it there", ch.Name(), ch.Metadata.Version, c, o.Target),
			Fix:     "move to a version of the chart that supports " + o.Target.String(),
		})
	}
	vals, err := o.Values()
	if err != nil {
		return fail("values", err)
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return fail("dependencies", err)
	}
	out.Notes = append(out.Notes, missingDependencies(dir, ch)...)
	if o.Rules == nil {
		o.Rules = rules.Default()
	}
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return fail("target", err)
	}
	caps.KubeVersion = *kv
	caps.APIVersions = servedAt(o.Rules, o.Target)
	top, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "release-name", Namespace: "default", Revision: 1, IsInstall: true}, caps)
	if err != nil {
		return fail("values", err)
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return fail("rendering", fmt.Errorf("%w (values the chart requires can be given with --values or --set)", err))
	}
	sources := templates(ch)
	disk := diskOf(dir)
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		text := files[key]
		if strings.HasSuffix(key, "NOTES.txt") || strings.TrimSpace(text) == "" {
			continue
		}
		t := sources[key]
		file := filepath.Join(dir, filepath.FromSlash(path.Join(disk.locate(t.chart), t.name)))
		objs, errs := manifest.Read(file, []byte(text))
		out.Objects = append(out.Objects, placed(t.source, objs)...)
		out.Errors = append(out.Errors, errs...)
	}
	for _, crd := range crds(ch, disk) {
		file := filepath.Join(dir, filepath.FromSlash(crd.name))
		objs, errs := manifest.Read(file, crd.data)
		out.Objects = append(out.Objects, objs...)
		out.Errors = append(out.Errors, errs...)
	}
	return out
}

// template is one template of the chart or of a subchart.
type template struct {
	chart  string // the chart's full path in the tree: "shop/charts/cache"
	name   string // in its chart: "templates/hpa.yaml"
	source string
}

// templates are the chart's and its subcharts' templates by the names
// the engine renders them under ("chart/charts/sub/templates/x").
func templates(ch *chartv2.Chart) map[string]template {
	out := map[string]template{}
	var walk func(*chartv2.Chart)
	walk = func(c *chartv2.Chart) {
		for _, t := range c.Templates {
			out[path.Join(c.ChartFullPath(), t.Name)] = template{c.ChartFullPath(), t.Name, string(t.Data)}
		}
		for _, d := range c.Dependencies() {
			walk(d)
		}
	}
	walk(ch)
	return out
}

type crdFile struct {
	name string // relative to the top chart's folder
	data []byte
}

// crds are the crds/ files of the chart and its subcharts: plain YAML
// Helm installs as they are.
func crds(ch *chartv2.Chart, disk diskTree) []crdFile {
	var out []crdFile
	var walk func(c *chartv2.Chart)
	walk = func(c *chartv2.Chart) {
		for _, f := range c.Files {
			if strings.HasPrefix(f.Name, "crds/") {
				out = append(out, crdFile{path.Join(disk.locate(c.ChartFullPath()), f.Name), f.Data})
			}
		}
		for _, d := range c.Dependencies() {
			walk(d)
		}
	}
	walk(ch)
	return out
}

// diskTree finds where the charts of a tree are on disk. The engine names
// a subchart by its name or alias ("shop/charts/sessions"); on disk it is
// whatever folder of charts/ holds its Chart.yaml, or the archive `helm
// dependency build` wrote (charts/cache-0.1.0.tgz).
type diskTree struct {
	dir   string            // the top chart's folder; "" for a packaged chart
	found map[string]string // child's answers, by rel and name
}

func diskOf(dir string) diskTree {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return diskTree{}
	}
	return diskTree{dir: dir, found: map[string]string{}}
}

// locate is the folder (relative to the top chart's, slash-separated) of
// the chart at full, its path in the tree: a subchart inside an archive
// is under the archive's name, as the archive holds it.
func (d diskTree) locate(full string) string {
	names := strings.Split(full, "/charts/")
	rel := ""
	for i, name := range names[1:] {
		found, known := d.found[rel+"\x00"+name]
		if !known && d.dir != "" {
			found = d.child(rel, name)
			d.found[rel+"\x00"+name] = found
		}
		if found == "" {
			return path.Join(rel, "charts", strings.Join(names[1+i:], "/charts/"))
		}
		rel = found
		if rest := names[2+i:]; strings.HasSuffix(found, ".tgz") && len(rest) > 0 {
			return path.Join(rel, "charts", strings.Join(rest, "/charts/"))
		}
		if strings.HasSuffix(found, ".tgz") {
			return rel
		}
	}
	return rel
}

// child finds the entry of rel/charts that holds the subchart the tree
// names name: the chart whose name it is, or the dependency it aliases.
func (d diskTree) child(rel, name string) string {
	want := name
	if parent, err := loadMetadata(filepath.Join(d.dir, rel)); err == nil {
		for _, dep := range parent.Dependencies {
			if dep.Alias == name {
				want = dep.Name
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(d.dir, rel, "charts"))
	for _, e := range entries {
		entry := path.Join(rel, "charts", e.Name())
		if e.IsDir() {
			if m, err := loadMetadata(filepath.Join(d.dir, entry)); err == nil && m.Name == want {
				return entry
			}
			continue
		}
		if strings.HasSuffix(e.Name(), ".tgz") {
			if c, err := loader.Load(filepath.Join(d.dir, entry)); err == nil && c.Name() == want {
				return entry
			}
		}
	}
	return ""
}

// loadMetadata reads the Chart.yaml of a chart folder.
func loadMetadata(dir string) (*chartv2.Metadata, error) {
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	var m chartv2.Metadata
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// missingDependencies names the dependencies Chart.yaml declares that
// charts/ does not hold (`helm dependency build` was not run): their
// templates cannot be scanned.
func missingDependencies(dir string, ch *chartv2.Chart) []string {
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	var out []string
	for _, d := range ch.Metadata.Dependencies {
		if !have[d.Name] && (d.Alias == "" || !have[d.Alias]) { // an aliased subchart goes by its alias
			out = append(out, fmt.Sprintf("chart %s: dependency %s %s is not in its charts/ folder, so its templates were not scanned (run helm dependency build %s)", dir, d.Name, d.Version, dir))
		}
	}
	return out
}

// servedAt is what .Capabilities.APIVersions says on the target: every
// group/version and group/version/Kind of client-go's scheme (Helm's
// default set, which has group/versions only) and of the rules, less
// those the rules say the target no longer serves. A chart asking for
// "batch/v1/CronJob" finds it, as it would on a cluster; one asking for
// "policy/v1beta1" at 1.25 or later does not, and one asking for
// "autoscaling/v2beta2" (gone from client-go) does at 1.24.
func servedAt(t *rules.Table, target rules.Version) common.VersionSet {
	var out common.VersionSet
	have := map[string]bool{}
	add := func(s string) {
		if !have[s] {
			have[s] = true
			out = append(out, s)
		}
	}
	for _, s := range common.DefaultVersionSet {
		gv, err := schema.ParseGroupVersion(s)
		if err != nil {
			continue
		}
		var kinds []string
		removed := 0
		for kind, typ := range scheme.Scheme.KnownTypes(gv) {
			if strings.HasPrefix(typ.PkgPath(), "k8s.io/apimachinery/") || strings.HasSuffix(kind, "List") {
				continue // ListOptions, WatchEvent, FooList: no resource of their own
			}
			if r, ok := t.Lookup(gv.WithKind(kind)); ok && !r.Removed.IsZero() && r.Removed.MinorAtOrBefore(target) {
				removed++
				continue
			}
			kinds = append(kinds, kind)
		}
		if removed > 0 && len(kinds) == 0 {
			continue // the whole group/version is gone
		}
		add(s)
		sort.Strings(kinds)
		for _, k := range kinds {
			add(s + "/" + k)
		}
	}
	for _, r := range t.All() {
		if r.Removed.IsZero() || !r.Removed.MinorAtOrBefore(target) {
			add(r.APIVersion())
			add(r.APIVersion() + "/" + r.GVK.Kind)
		}
	}
	return out
}

// placed moves each rendered object to its template's line: the n-th
// object of an apiVersion goes to the n-th line of the template writing
// that apiVersion literally, else to the n-th templated "apiVersion:"
// line, else to the template's first line. A rule's line keeps its
// distance from its object's.
func placed(src string, objs []manifest.Object) []manifest.Object {
	if src == "" {
		return objs
	}
	seen := map[string]int{}
	templated := 0
	for i := range objs {
		o := &objs[i]
		line := lineOf(src, "apiVersion:", seen[o.APIVersion], o.APIVersion)
		seen[o.APIVersion]++
		if line == 0 {
			line = lineOf(src, "apiVersion:", templated)
			templated++
		}
		if line == 0 {
			line = 1
		}
		shift := line - o.Line
		o.Line = line
		for j := range o.Rules {
			o.Rules[j].Line += shift
		}
	}
	return objs
}

// lineOf is the 1-based line of the nth (from 0; the last one if there
// are fewer) line starting with key, or with key and one of values (bare
// or quoted); 0 if none.
func lineOf(src, key string, nth int, values ...string) int {
	found := 0
	for i, l := range strings.Split(src, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		rest, ok := strings.CutPrefix(l, key)
		if !ok {
			continue
		}
		if len(values) > 0 {
			v := strings.Trim(strings.TrimSpace(rest), `"'`)
			if v != values[0] {
				continue
			}
		}
		found = i + 1
		if nth == 0 {
			break
		}
		nth--
	}
	return found
}

func readSource(file string) string {
	data, _ := os.ReadFile(file)
	return string(data)
}
