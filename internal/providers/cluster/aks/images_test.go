package aks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/exitcode"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
)

// TestNodeImagesFromAKS: with aks clusters alone (no catalogue in the
// fleet), node images come from each pool's upgrade profile. The
// compliance report says the pool is behind the image AKS names, and
// where that came from; a node-image run takes the pool to that image
// (it used to end Completed with the pool untouched: no image was
// chosen, so the pool counted as there).
func TestNodeImagesFromAKS(t *testing.T) {
	srv, log := emulator(t)
	ctx := t.Context()
	p, err := aks.New(&v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "shop-rg", Name: "aks-img", ARMEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	createAKS(t, p, "aks-img", log)
	latest := nodeimages.Default().Latest().Version
	got, err := p.Get(ctx, "aks-img")
	if err != nil || len(got.NodePools) != 1 || got.NodePools[0].NodeImage == latest {
		t.Fatalf("before: %+v, %v; want a pool on an image older than %s", got, err, latest)
	}
	before := got.NodePools[0].NodeImage
	if newest, err := p.NewestPoolImage(ctx, "aks-img", "user"); err != nil || newest != latest {
		t.Fatalf("NewestPoolImage = %q, %v; want %s", newest, err, latest)
	}

	fleetFile, runFile := aksRun(t, srv.URL, "aks-img", "img", "aks-images", "")
	// The same fleet, a node-image run of AKS's default selection (Latest).
	data := strings.Replace(readFile(t, runFile), "upgrade: {type: Full, kubernetesVersion: \""+higher.Minor+"\"}", "upgrade: {type: NodeImageOnly}", 1)
	write(t, runFile, data)
	home := testfleet.Fleet(t).Home

	code, out := testfleet.RunCLI(t, "report", "compliance", "--fleet", fleetFile, "--home", home)
	if want := "user=" + before + " (behind " + latest + ", per aks upgrade profile)"; code != exitcode.NotKnown || !strings.Contains(out, want) ||
		!strings.Contains(out, "CVEs: provider aks has no node-image catalogue") || !strings.Contains(out, "1 of 1 pool(s) behind") {
		t.Errorf("compliance before: exit %d\n%s\nwant exit %d and %q", code, out, exitcode.NotKnown, want)
	}

	code, out = testfleet.RunCLI(t, "run", "-f", runFile, "--fleet", fleetFile, "--home", home)
	if code != 0 || !strings.Contains(out, "node image "+latest) {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, log)
	}
	run, err := (&store.Store{Dir: home}).Get("aks-images")
	if err != nil || run.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("run: %+v, %v", run, err)
	}
	pool, err := p.Pools.Get(ctx, "shop-rg", "aks-img", "user", nil)
	if err != nil || pool.Properties.NodeImageVersion == nil || *pool.Properties.NodeImageVersion != latest {
		t.Errorf("pool after the run: %+v, %v; want node image %s", pool.Properties, err, latest)
	}
	if n := strings.Count(log.String(), "upgradeNodeImageVersion"); n == 0 {
		t.Errorf("no node-image upgrade was asked of AKS:\n%s", log)
	}

	code, out = testfleet.RunCLI(t, "report", "compliance", "--fleet", fleetFile, "--home", home)
	if want := "user=" + latest + " (newest, per aks upgrade profile)"; !strings.Contains(out, want) || !strings.Contains(out, "0 of 1 pool(s) behind") {
		t.Errorf("compliance after: exit %d\n%s\nwant %q", code, out, want)
	}

	// An emergency patch over a local cluster (whose catalogue says which
	// image fixes the CVE) and the aks one: the fix, then a newer image,
	// are published; AKS names the newer for its pool, which carries the
	// fix, so the aks pool moves there, and the patch says so.
	if _, err := testfleet.Fleet(t).Up(ctx, localfleet.Spec{Name: "img-local", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down("img-local") })
	fix, newer := "ubuntu-2204-2026.12.07-fix", "ubuntu-2204-2026.12.08"
	for _, args := range [][]string{{fix, "--cve", "CVE-2026-7001:Critical"}, {newer}} {
		if code, out := testfleet.RunCLI(t, append([]string{"local", "images", "publish", "--home", home}, args...)...); code != 0 {
			t.Fatalf("publish %v: %s", args, out)
		}
	}
	aksOnly := readFile(t, fleetFile)
	mixed := aksOnly + "---\napiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: img-local}\nspec: {provider: local, local: {name: img-local}, group: prod}\n"
	write(t, fleetFile, mixed)
	code, out = testfleet.RunCLI(t, "patch", "--cve", "CVE-2026-7001", "--fleet", fleetFile, "--home", home)
	if want := "pool user of img moves to " + newer + ", the image its provider names for it, released after " + fix; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("patch: exit %d\n%s\nwant %q", code, out, want)
	}
	pool, err = p.Pools.Get(ctx, "shop-rg", "aks-img", "user", nil)
	if err != nil || pool.Properties.NodeImageVersion == nil || *pool.Properties.NodeImageVersion != newer {
		t.Errorf("aks pool after the patch: %+v, %v; want %s", pool.Properties, err, newer)
	}
	local, err := testfleet.Fleet(t).Get("img-local")
	if err != nil || local.NodePools[0].NodeImage != fix {
		t.Errorf("local pool after the patch: %v; want %s", err, fix)
	}

	// The NodeImage channel over the aks cluster alone: AKS names a newer
	// image (published after), and one run takes the pool there.
	next := "ubuntu-2204-2026.12.09"
	if code, out := testfleet.RunCLI(t, "local", "images", "publish", next, "--home", home); code != 0 {
		t.Fatalf("publish: %s", out)
	}
	write(t, fleetFile, aksOnly)
	profiles := filepath.Join(t.TempDir(), "profiles.yaml")
	write(t, profiles, "apiVersion: upshift.dev/v1alpha1\nkind: AutoUpgradeProfile\nmetadata: {name: images}\nspec: {channel: NodeImage}\n")
	code, out = testfleet.RunCLI(t, "schedule", "--fleet", fleetFile, "-f", profiles, "--once", "--home", home)
	if want := "run images-" + next + " brings node image " + next + " to img"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("schedule --once: exit %d\n%s\nwant %q", code, out, want)
	}
	pool, err = p.Pools.Get(ctx, "shop-rg", "aks-img", "user", nil)
	if err != nil || pool.Properties.NodeImageVersion == nil || *pool.Properties.NodeImageVersion != next {
		t.Errorf("aks pool after the schedule's run: %+v, %v; want %s", pool.Properties, err, next)
	}

	// A catalogue of the cluster's images (spec.aks.nodeImageFeed; AKS
	// publishes no CVE data) makes its CVEs known: the pool runs the
	// newest image, so the cluster is compliant.
	write(t, fleetFile, strings.Replace(aksOnly, "armEndpoint:", "nodeImageFeed: "+testfleet.Fleet(t).NodeImagesPath()+", armEndpoint:", 1))
	code, out = testfleet.RunCLI(t, "report", "compliance", "--fleet", fleetFile, "--home", home)
	if want := "user=" + next + " (0)"; code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "1 of 1 cluster(s) compliant") {
		t.Errorf("compliance with a catalogue: exit %d\n%s\nwant exit 0 and %q", code, out, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
