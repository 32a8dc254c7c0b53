package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	data := `# a comment only document
---
apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: web
  namespace: shop
---
apiVersion: v1
kind: List
items:
- apiVersion: batch/v1beta1
  kind: CronJob
  metadata:
    name: nightly
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: api
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
  labels: [unclosed
---
just a string
---
apiVersion: v1
kind: Service
metadata:
  name: after-the-errors
`
	objs, errs := Read("all.yaml", []byte(data))
	want := []struct {
		kind, name string
		line       int
	}{{"Ingress", "web", 3}, {"CronJob", "nightly", 12}, {"Deployment", "api", 16}, {"Service", "after-the-errors", 29}}
	if len(objs) != len(want) {
		t.Fatalf("got %d objects: %+v", len(objs), objs)
	}
	for i, w := range want {
		if objs[i].Kind != w.kind || objs[i].Name != w.name || objs[i].Line != w.line {
			t.Errorf("object %d = %s %s at line %d; want %s %s at line %d", i, objs[i].Kind, objs[i].Name, objs[i].Line, w.kind, w.name, w.line)
		}
	}
	if objs[0].Namespace != "shop" || objs[0].APIVersion != "extensions/v1beta1" {
		t.Errorf("first object = %+v", objs[0])
	}
	if len(errs) != 2 {
		t.Fatalf("errors = %v, want 2", errs)
	}
	var pe *ParseError
	if !errors.As(errs[0], &pe) || pe.File != "all.yaml" || pe.Line < 20 || pe.Line > 25 {
		t.Errorf("first error = %v; want all.yaml around line 20-25", errs[0])
	}
	if !strings.Contains(errs[1].Error(), "all.yaml:27:") || !strings.Contains(errs[1].Error(), "not a mapping") {
		t.Errorf("second error = %v", errs[1])
	}
}

func TestReadJSONAndFolders(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/pdb.json", "{\n  \"apiVersion\": \"policy/v1beta1\",\n  \"kind\": \"PodDisruptionBudget\",\n  \"metadata\": {\"name\": \"db\"}\n}\n")
	write("b/values.yaml", "replicas: 3\n")
	write("b/readme.md", "apiVersion: v1\n")
	write(".git/x.yaml", "apiVersion: v1\nkind: Secret\n")
	objs, errs := ReadPaths([]string{dir, filepath.Join(dir, "missing.yaml"), "-"}, strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata:\n  name: stdin\n"), nil)
	if len(objs) != 2 || objs[0].Kind != "PodDisruptionBudget" || objs[0].Line != 1 || objs[1].File != "-" {
		t.Errorf("objects = %+v", objs)
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "values.yaml:1: not a Kubernetes object") || !IsNotObject(errs[0]) || !strings.Contains(errs[1].Error(), "missing.yaml") || IsNotObject(errs[1]) {
		t.Errorf("errors = %v (values.yaml skipped as no object, missing.yaml unreadable)", errs)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod}\n---\n: :\n"))
	f.Add([]byte("{\"apiVersion\": \"v1\", \"kind\": \"Pod\"}"))
	f.Add([]byte("---\n---\n...\n- a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := Read("fuzz.yaml", data)
		for _, o := range objs {
			if o.Line < 1 || o.APIVersion == "" || o.Kind == "" {
				t.Fatalf("object without position or type: %+v", o)
			}
		}
	})
}

// TestReadOnlyWhatItNeeds: the reader takes apiVersion, kind and metadata
// from the parsed document without decoding the rest, and still refuses
// what YAML forbids (a key given twice, at any depth), with its line;
// CRLF files and "--- " separators with trailing text split as before.
func TestReadOnlyWhatItNeeds(t *testing.T) {
	data := "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n  namespace: ns\r\n--- # next\r\n" +
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  generateName: web-\nspec:\n  replicas: 1\n  replicas: 2\n" +
		"---\napiVersion: 1\nkind: Service\nmetadata: {name: s}\n...\napiVersion: v1\nkind: Secret\nmetadata: {name: &n sec}\n"
	objs, errs := Read("f.yaml", []byte(data))
	if len(objs) != 2 || objs[0].Name != "a" || objs[0].Namespace != "ns" || objs[0].Line != 1 || objs[1].Kind != "Secret" || objs[1].Name != "sec" || objs[1].Line != 19 {
		t.Fatalf("objects: %+v", objs)
	}
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	want := []string{`f.yaml:13: mapping key "replicas" already defined`, "f.yaml:15: kind Service without apiVersion"}
	if len(msgs) != 2 || !strings.Contains(msgs[0], want[0][len("f.yaml:13: "):]) || !strings.HasPrefix(msgs[0], "f.yaml:13:") || msgs[1] != want[1] {
		t.Fatalf("errors: %q, want %q", msgs, want)
	}
}

// TestReadPathsCharts: a folder holding Chart.yaml, met while walking or
// named itself, goes whole to the chart reader and none of its files is
// read as YAML; without a reader, its files are read as they are.
func TestReadPathsCharts(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"app.yaml":                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\n",
		"chart/Chart.yaml":             "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
		"chart/templates/svc.yaml":     "apiVersion: v1\nkind: Service\nmetadata: {name: {{ .Release.Name }}}\n",
		"chart/charts/sub/Chart.yaml":  "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
		"chart/charts/sub/values.yaml": "a: 1\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var asked []string
	reader := func(path string) ([]Object, []error) {
		asked = append(asked, path)
		return []Object{{APIVersion: "v1", Kind: "Service", Name: "rendered", File: path}}, nil
	}
	objs, errs := ReadPaths([]string{dir, filepath.Join(dir, "chart")}, nil, reader)
	if want := []string{filepath.Join(dir, "chart"), filepath.Join(dir, "chart")}; !slices.Equal(asked, want) || len(errs) != 0 || len(objs) != 3 {
		t.Errorf("with a reader: asked %q (want %q), %d objects, errors %v", asked, want, len(objs), errs)
	}
	objs, errs = ReadPaths([]string{dir}, nil, nil)
	if len(objs) != 2 || len(errs) != 3 {
		t.Errorf("without a reader: %d objects, errors %v; want the ConfigMap, the template read as it is, and the three other files skipped", len(objs), errs)
	}
}
