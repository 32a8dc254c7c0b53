package image_test

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/image"
)

// helmModule is the Helm the Makefile's chart target runs (keep in step).
const helmModule = "helm.sh/helm/v4/cmd/helm@v4.3.2"

// staticBinary builds a tiny static Linux program that prints its argv.
func staticBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nimport (\"fmt\"; \"os\")\nfunc main() { fmt.Println(os.Args[1:]) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func TestBuildRefusesWhatCannotRun(t *testing.T) {
	script := filepath.Join(t.TempDir(), "upshift")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dynamic, err := exec.LookPath("ls") // Debian's ls is linked against libc
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		o    image.Options
		want string
	}{
		{"no version", image.Options{Binary: staticBinary(t)}, "a version is required"},
		{"no binary", image.Options{Version: "0.1.0"}, "the upshift binary is required"},
		{"missing binary", image.Options{Version: "0.1.0", Binary: filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"a script", image.Options{Version: "0.1.0", Binary: script}, "is not a Linux executable (build it with GOOS=linux)"},
		{"dynamically linked", image.Options{Version: "0.1.0", Binary: dynamic}, "dynamically linked and the image has no C library (build it with CGO_ENABLED=0)"},
		{"not linux", image.Options{Version: "0.1.0", Binary: staticBinary(t), Platform: "windows/amd64"}, "only linux images"},
		{"no certificates", image.Options{Version: "0.1.0", Binary: staticBinary(t), CACertificates: filepath.Join(t.TempDir(), "none.crt")}, "install Debian's ca-certificates"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := image.Build(c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Build: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestBuildIsReproducible: the same inputs give the same digest, and the
// commit's time moves only the date.
func TestBuildIsReproducible(t *testing.T) {
	bin := staticBinary(t)
	digest := func(o image.Options) v1.Hash {
		img, err := image.Build(o)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	o := image.Options{Binary: bin, Version: "0.1.0", Commit: "abc123"}
	first, second := digest(o), digest(o)
	if first != second {
		t.Fatalf("two builds of the same inputs: %s and %s", first, second)
	}
	o.Created = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	if dated := digest(o); dated == first {
		t.Fatalf("a build dated %s has the undated digest %s", o.Created, first)
	}
}

// TestMakeImageRunsFromTheChart is what a platform team does: `make image`
// pushes to their registry (here go-containerregistry's in-process one);
// the chart, pointed at that registry, names the image; the image pulled
// back by that name holds an upshift that runs, as the non-root user, with
// the chart's appVersion in its labels and in `upshift version`.
func TestMakeImageRunsFromTheChart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds upshift statically")
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")

	platform := "linux/" + runtime.GOARCH
	mk := exec.Command("make", "image", "REGISTRY="+host, "PLATFORMS="+platform)
	mk.Dir = "../.."
	out, err := mk.CombinedOutput()
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`pushed ` + regexp.QuoteMeta(host) + `/upshift:\S+@sha256:[0-9a-f]{64}`).Match(out) {
		t.Fatalf("make image does not report the pushed reference:\n%s", out)
	}

	chart, err := os.ReadFile("../../charts/upshift/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(chart, &meta); err != nil {
		t.Fatal(err)
	}

	ref := deploymentImage(t, host+"/upshift")
	if want := host + "/upshift:" + meta.AppVersion; ref != want {
		t.Fatalf("the chart's Deployment runs %q, want %q (the chart's default tag is its appVersion)", ref, want)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("the index %s: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Platform == nil || im.Manifests[0].Platform.String() != platform {
		t.Fatalf("index manifests %+v, want one for %s", im.Manifests, platform)
	}
	img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != image.Binary {
		t.Errorf("entrypoint %v, want [%s]", got, image.Binary)
	}
	if cf.Config.User != image.User {
		t.Errorf("user %q, want %q (non-root, so runAsNonRoot holds)", cf.Config.User, image.User)
	}
	if got := cf.Config.Labels[image.LabelVersion]; got != meta.AppVersion {
		t.Errorf("label %s = %q, want the chart's appVersion %q", image.LabelVersion, got, meta.AppVersion)
	}
	if got := cf.Config.Labels[image.LabelRevision]; !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(got) {
		t.Errorf("label %s = %q, want the commit", image.LabelRevision, got)
	}

	files := extract(t, img)
	for _, want := range []string{"etc/ssl/certs/ca-certificates.crt", "etc/passwd", "tmp"} {
		if _, ok := files[want]; !ok {
			t.Errorf("the image has no %s", want)
		}
	}
	if !strings.Contains(string(files["etc/passwd"].data), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd does not name user 65532:\n%s", files["etc/passwd"].data)
	}
	if tmp := files["tmp"]; tmp.mode&0o1777 != 0o1777 {
		t.Errorf("/tmp has mode %o, want 1777 (gates write temporary files there)", tmp.mode)
	}
	bin := files[strings.TrimPrefix(image.Binary, "/")]
	if bin.mode&0o111 == 0 {
		t.Fatalf("%s is not executable in the image (mode %o)", image.Binary, bin.mode)
	}
	exe := filepath.Join(t.TempDir(), "upshift")
	if err := os.WriteFile(exe, bin.data, 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := exec.Command(exe, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("upshift version from the image: %v", err)
	}
	var info struct {
		Version, Commit string
	}
	if err := json.Unmarshal(v, &info); err != nil {
		t.Fatalf("upshift version -o json: %v\n%s", err, v)
	}
	if info.Version != meta.AppVersion || info.Commit != cf.Config.Labels[image.LabelRevision] {
		t.Errorf("upshift version in the image says %+v, want version %s and the label's commit", info, meta.AppVersion)
	}
}

// deploymentImage renders the chart with image.repository set and returns
// the hub container's image.
func deploymentImage(t *testing.T, repository string) string {
	t.Helper()
	cmd := exec.Command("go", "run", helmModule, "template", "upshift", "charts/upshift",
		"--namespace", "upshift-system", "--show-only", "templates/deployment.yaml", "--set", "image.repository="+repository)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("helm template: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Name, Image string }
				}
			}
		}
	}
	if err := yaml.Unmarshal(out, &d); err != nil {
		t.Fatalf("the rendered Deployment: %v\n%s", err, out)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "hub" {
			return c.Image
		}
	}
	t.Fatalf("no hub container in the rendered Deployment:\n%s", out)
	return ""
}

type file struct {
	mode int64
	data []byte
}

// extract reads the image's flattened filesystem.
func extract(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = file{mode: h.Mode, data: data}
	}
}
