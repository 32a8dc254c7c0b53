package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/doctest"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/exec"
)

// yamlBlock is a ```yaml (or ```json) block of a page, and the marker before it, if
// any: `<!-- yaml: TYPE -->` on the line above the fence says which file
// or fragment it is, where its contents cannot tell.
type yamlBlock struct {
	page, marker, text string
	line               int
}

var markerRE = regexp.MustCompile(`^<!-- yaml: ([a-z-]+) -->$`)

// docPages are the README and the pages under docs/ (the generated CLI
// reference left out), and the repository's root they are relative to.
func docPages() (root string, pages []string) {
	root = filepath.Join("..", "..")
	pages, _ = filepath.Glob(filepath.Join(root, "docs", "*.md"))
	more, _ := filepath.Glob(filepath.Join(root, "docs", "*", "*.md"))
	for _, p := range more {
		if !strings.HasPrefix(p, filepath.Join(root, "docs", "cli")+string(filepath.Separator)) {
			pages = append(pages, p)
		}
	}
	return root, append(pages, filepath.Join(root, "README.md"))
}

// documentedYAML lists the yaml blocks of the README and of every page
// under docs/, each dedented (a block inside a list item is indented).
// Files the console examples use are left to internal/doctest, which runs
// those examples.
func documentedYAML(t *testing.T) []yamlBlock {
	t.Helper()
	root, pages := docPages()
	var out []yamlBlock
	for _, p := range pages {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		page := strings.TrimPrefix(p, root+"/")
		fences, err := doctest.Fences(page, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fences {
			if (f.Lang != "yaml" && f.Lang != "json") || f.IsFile() {
				continue
			}
			b := yamlBlock{page: page, line: f.Line, text: f.Text()}
			if m := markerRE.FindStringSubmatch(f.Above); m != nil {
				b.marker = m[1]
			}
			out = append(out, b)
		}
	}
	return out
}

// readDocumented reads a documented block as upshift reads that kind of
// file or fragment: strictly, unknown fields refused.
func readDocumented(b yamlBlock) error {
	name := fmt.Sprintf("%s:%d", b.page, b.line)
	data := []byte(b.text)
	kind := b.marker
	if kind == "" {
		switch {
		case strings.HasPrefix(strings.TrimSpace(b.text), "{") && strings.Contains(b.text, `"stages"`):
			kind = "azure-stages"
		case strings.Contains(b.text, "kind: Cluster"):
			kind = "fleet"
		case strings.Contains(b.text, "kind: UpdateRun"), strings.Contains(b.text, "kind: UpdateStrategy") && !strings.Contains(b.text, "kind: AutoUpgradeProfile"):
			kind = "run"
		case strings.Contains(b.text, "kind: AutoUpgradeProfile"):
			kind = "profiles"
		case strings.Contains(b.text, "kind: NodeImageFeed"):
			kind = "node-images"
		case regexp.MustCompile(`(?m)^steps:`).MatchString(b.text):
			kind = "canary"
		case regexp.MustCompile(`(?m)^traffic:`).MatchString(b.text):
			kind = "bluegreen"
		case regexp.MustCompile(`(?m)^routes:`).MatchString(b.text):
			kind = "gateway"
		}
	}
	switch kind {
	case "fleet":
		_, err := fleet.Parse(name, data)
		return err
	case "run":
		if !strings.Contains(b.text, "kind: UpdateRun") {
			_, err := plan.ParseStrategy(name, data, "")
			return err
		}
		_, err := plan.Parse(name, data)
		return err
	case "profiles":
		_, err := plan.ParseProfiles(name, data)
		return err
	case "azure-stages":
		_, err := plan.ParseAzureStages(name, data)
		return err
	case "node-images":
		_, err := nodeimages.Parse(name, data)
		return err
	case "canary":
		return yaml.UnmarshalStrict(data, &plan.CanaryFile{})
	case "bluegreen":
		return yaml.UnmarshalStrict(data, &v1alpha1.BlueGreenSpec{})
	case "gateway":
		_, err := frontdoor.ParseConfig(name, data)
		return err
	case "run-spec":
		return yaml.UnmarshalStrict(data, &struct {
			Spec v1alpha1.UpdateRunSpec `json:"spec"`
		}{})
	case "exec-request":
		return strictJSON(data, &exec.Request{})
	case "exec-cluster":
		return strictJSON(data, &cluster.Cluster{})
	case "ingress":
		return yaml.UnmarshalStrict(data, &networkingv1.Ingress{})
	case "notifications":
		return yaml.UnmarshalStrict(data, &[]v1alpha1.NotificationSink{})
	}
	return fmt.Errorf("upshift reads no file of this shape: put <!-- yaml: TYPE --> above the block (fleet, run, profiles, azure-stages, node-images, canary, bluegreen, gateway, run-spec, notifications, exec-request, exec-cluster, ingress)")
}

// TestDocumentedYAML reads every yaml block of the README and the docs as
// upshift reads that kind of file, strictly: a field renamed or removed in
// the API, or misspelt in a page, fails here before a user copies it.
func TestDocumentedYAML(t *testing.T) {
	builtin.Register() // a fleet's providers are checked by kind
	blocks := documentedYAML(t)
	if len(blocks) < 15 {
		t.Fatalf("%d yaml blocks found in the README and docs: the test reads the wrong files", len(blocks))
	}
	for _, b := range blocks {
		if err := readDocumented(b); err != nil {
			t.Errorf("%s:%d: %v\n%s", b.page, b.line, err, b.text)
		}
	}
}

// strictJSON decodes the exec contract's JSON as the exec provider does:
// unknown fields refused.
func strictJSON(data []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}
