package architecture_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"upshift.dev/upshift/internal/architecture"
)

const module = "upshift.dev/upshift/"

// TestImportsGoDown reads every package's imports with `go list` and
// fails on a package that is not on the map, and on an import of a
// package of a higher layer.
func TestImportsGoDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		layer := architecture.Of(pkg)
		if layer < 0 {
			t.Errorf("package %s is on no layer of internal/architecture's map: place it", pkg)
			continue
		}
		seen++
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if l := architecture.Of(dep); l > layer {
				t.Errorf("%s (%s) imports %s (%s): an import runs back up the layers", pkg, architecture.Layers[layer].Name, dep, architecture.Layers[l].Name)
			}
		}
	}
	if seen < 50 {
		t.Fatalf("go list gave %d packages of the module; the test reads the wrong tree", seen)
	}
}

// TestOf places packages by the most specific entry of the map.
func TestOf(t *testing.T) {
	for pkg, want := range map[string]string{
		"internal/providers/cluster":     "interfaces",
		"internal/providers/cluster/aks": "providers",
		"internal/scan/rules":            "leaves",
		"cmd/upshift":                    "programs",
	} {
		if got := architecture.Of(pkg); got < 0 || architecture.Layers[got].Name != want {
			t.Errorf("Of(%s) = %d, want layer %s", pkg, got, want)
		}
	}
	if got := architecture.Of("internal/nowhere"); got != -1 {
		t.Errorf("Of of a package not on the map = %d", got)
	}
}

// TestInterfacesStaySmall: a package that names a provider interface
// inherits its dependencies, so the interface packages pull in neither
// client-go, kubectl's drain nor the API types, and stay under 150
// packages, the standard library's included (`go list -deps PKG | wc -l`).
func TestInterfacesStaySmall(t *testing.T) {
	for _, pkg := range []string{"internal/providers/cluster", "internal/providers/traffic", "internal/nodepool"} {
		out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}`, module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		deps := strings.Fields(string(out))
		for _, d := range deps {
			if strings.HasPrefix(d, "k8s.io/kubectl/") || strings.HasPrefix(d, "k8s.io/client-go/") || d == module+"internal/nodes" || d == module+"api/v1alpha1" {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
		if len(deps) >= 150 {
			t.Errorf("%s depends on %d packages, want under 150", pkg, len(deps))
		}
	}
}

// TestEngineNamesNoMethodSettings: the engine drives any method through
// its interfaces; a method's own settings and status (spec.blueGreen,
// spec.canary, a cluster's status.blueGreen) are the method's business,
// so no source of the engine selects them.
func TestEngineNamesNoMethodSettings(t *testing.T) {
	files, err := filepath.Glob("../engine/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("engine sources: %v %v", files, err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && (sel.Sel.Name == "BlueGreen" || sel.Sel.Name == "Canary") {
				t.Errorf("%s: the engine reads a method's field .%s: ask the method (methods.Moving, methods.RollingBack)", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
