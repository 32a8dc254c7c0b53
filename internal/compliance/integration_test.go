package compliance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/internal/compliance"
	"upshift.dev/upshift/internal/exitcode"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

func cli(t *testing.T, args ...string) (stdout string, code int) {
	t.Helper()
	cmd := testfleet.CLI(args...)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out) + errOut.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func report(t *testing.T, fleet string) compliance.Report {
	t.Helper()
	out, code := cli(t, "report", "compliance", "--fleet", fleet, "-o", "json")
	var r compliance.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report (exit %d): %v\n%s", code, err, out)
	}
	want := exitcode.OK
	switch {
	case r.Totals.Compliant+r.Totals.NotKnown < r.Totals.Clusters:
		want = exitcode.NotCompliant
	case r.Totals.NotKnown > 0:
		want = exitcode.NotKnown
	}
	if code != want {
		t.Errorf("exit %d with %d of %d compliant and %d not known, want %d", code, r.Totals.Compliant, r.Totals.Clusters, r.Totals.NotKnown, want)
	}
	return r
}

// liveImages reads a cluster's version and its pool's node images from the
// API server, to hold the report against.
func liveImages(t *testing.T, name string) (string, map[string]bool) {
	t.Helper()
	c, err := testfleet.Fleet(t).Get(name)
	if err != nil {
		t.Fatal(err)
	}
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	list, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]bool{}
	for _, n := range list.Items {
		images[n.Labels[localfleet.LabelNodeImage]] = true
	}
	return v.GitVersion, images
}

// TestComplianceReport reports on two real clusters, one current and one
// lagging, holds the report against the clusters themselves, patches the
// lagging one and reports again, then renders the HTML page in headless
// Chromium: the page loads, shows the totals, and paints a screenshot.
func TestComplianceReport(t *testing.T) {
	latest := nodeimages.Default().Latest().Version
	specs := map[string]localfleet.Spec{
		"current": {Name: "current", KubernetesVersion: toolchain.Latest().Minor, NodeImage: latest, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}},
		"lagging": {Name: "lagging", KubernetesVersion: toolchain.Oldest().Minor, NodeImage: "ubuntu-2204-2025.01", NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}},
	}
	var wg sync.WaitGroup
	for _, s := range specs {
		wg.Add(1)
		go func() { defer wg.Done(); testfleet.Up(t, s) }()
	}
	wg.Wait()
	dir := t.TempDir()
	fleet := filepath.Join(dir, "fleet.yaml")
	doc := ""
	for _, n := range []string{"current", "lagging"} {
		doc += fmt.Sprintf("---\napiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: %s}\nspec: {provider: local, local: {name: %s}, group: prod}\n", n, n)
	}
	if err := os.WriteFile(fleet, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	const fix = "ubuntu-2204-2099.04"
	if out, code := cli(t, "local", "images", "publish", fix, "--cve", "CVE-2099-0004:Critical"); code != 0 {
		t.Fatalf("publish: %d\n%s", code, out)
	}

	r := report(t, fleet)
	if r.Totals.Clusters != 2 || r.Totals.Compliant != 0 || r.Totals.ClustersCritical != 2 || r.Totals.PoolsBehind != 2 || r.LatestImage != fix {
		t.Errorf("totals before the patch: %+v (latest %s)", r.Totals, r.LatestImage)
	}
	for _, c := range r.Clusters {
		version, images := liveImages(t, c.Name)
		if c.KubernetesVersion != version || len(c.Pools) != 1 || !images[c.Pools[0].Image] || len(images) != 1 {
			t.Errorf("%s: report says %s on %+v; the cluster runs %s on %v", c.Name, c.KubernetesVersion, c.Pools, version, images)
		}
		if c.Support != compliance.Supported {
			t.Errorf("%s at %s is %s (N-%d)", c.Name, c.KubernetesVersion, c.Support, c.MinorsBehind)
		}
	}

	lagFleet := filepath.Join(dir, "lagging.yaml")
	if err := os.WriteFile(lagFleet, []byte("apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: lagging}\nspec: {provider: local, local: {name: lagging}, group: prod}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, "patch", "--node-image", fix, "--fleet", lagFleet); code != 0 {
		t.Fatalf("patch: %d\n%s", code, out)
	}
	r = report(t, fleet)
	byName := map[string]compliance.Cluster{}
	for _, c := range r.Clusters {
		byName[c.Name] = c
	}
	lag := byName["lagging"]
	if !lag.Compliant || lag.Pools[0].Image != fix || lag.Pools[0].Behind != 0 || len(lag.OpenCVEs) != 0 || lag.LastRun == nil || lag.LastRun.Name != "patch-"+fix || lag.LastRun.Phase != "Completed" {
		t.Errorf("lagging after its patch: %+v", lag)
	}
	if cur := byName["current"]; cur.Compliant || cur.MostSevere != "Critical" || cur.LastRun != nil {
		t.Errorf("current, unpatched: %+v", cur)
	}
	if r.Totals.Compliant != 1 || r.Totals.PoolsBehind != 1 {
		t.Errorf("totals after the patch: %+v", r.Totals)
	}

	// The same patched cluster reached through a kubeconfig alone: that
	// provider has no catalogue, so its compliance is not known (exit 9),
	// never "compliant".
	lagging, err := testfleet.Fleet(t).Get("lagging")
	if err != nil {
		t.Fatal(err)
	}
	byKubeconfig := filepath.Join(dir, "by-kubeconfig.yaml")
	if err := os.WriteFile(byKubeconfig, []byte(fmt.Sprintf("apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: reached}\nspec: {provider: kubeconfig, kubeconfig: %s}\n", lagging.KubeconfigPath())), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, "report", "compliance", "--fleet", byKubeconfig)
	if code != exitcode.NotKnown || !strings.Contains(out, "node images and CVEs: provider kubeconfig has no node-image catalogue") || !strings.Contains(out, "0 of 1 cluster(s) compliant; 1 not known") {
		t.Errorf("a cluster without a catalogue: exit %d\n%s", code, out)
	}

	page, code := cli(t, "report", "compliance", "--fleet", fleet, "-o", "html")
	if code != exitcode.NotCompliant {
		t.Errorf("html report exit %d", code)
	}
	path := filepath.Join(dir, "compliance.html")
	if err := os.WriteFile(path, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Chromium is not installed: run `make deps` (apt-get install chromium)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	browser := func(args ...string) []byte {
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}, args...)
		out, err := exec.CommandContext(ctx, chromium, append(args, "file://"+path)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return out
	}
	dom := string(browser("--dump-dom"))
	for _, want := range []string{`id="total-compliant"><div class="n">1/2</div>`, `id="total-critical"><div class="n">1</div>`, `id="cluster-lagging"`, "CVE-2099-0004", "patch-" + fix + " Completed"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	shot := filepath.Join(dir, "shot.png")
	browser("--screenshot="+shot, "--window-size=1280,800", "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// The totals' tiles paint red (not compliant) figures: count pixels
	// that are clearly red, which a blank or unstyled page has none of.
	red := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 > 150 && g>>8 < 90 && bl>>8 < 90 {
				red++
			}
		}
	}
	if b.Dx() != 1280 || red < 50 {
		t.Errorf("screenshot %dx%d with %d red pixels: the page did not render its totals", b.Dx(), b.Dy(), red)
	}
}
