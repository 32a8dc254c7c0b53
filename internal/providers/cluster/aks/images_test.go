package aks_test

import (
	"os"
	"strings"
	"testing"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/exitcode"
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
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
