package aks_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/exitcode"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
)

// TestStopAbortsTheCloudOperation: `upshift stop --abort-cloud-operation`
// on a run whose node pool upgrade is under way in Azure (a soak of a
// minute per node keeps it there) aborts that operation through AKS's
// abort, audits it, and the run ends Stopped — the step Stopped, not
// Failed — with the managed cluster Canceled, as AKS leaves it. A resume
// then refuses the Canceled cluster, saying what to do, and sends Azure
// nothing but reads; once az aks update has reconciled it, a resume
// upgrades the pool again.
func TestStopAbortsTheCloudOperation(t *testing.T) {
	srv, log := emulator(t)
	ctx := t.Context()
	p, err := aks.New(&v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "shop-rg", Name: "aks-abort", ARMEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	createAKS(t, p, "aks-abort", log)
	home := testfleet.Fleet(t).Home
	// A soak of 30 s a node (a minute: AKS counts whole minutes) keeps the
	// pool's operation under way long enough to abort it.
	fleetFile, runFile := aksRun(t, srv.URL, "aks-abort", "shop", "abort-run", "  nodeUpgrade: {maxSurge: \"1\", nodeSoakDuration: 30s}\n")

	driver := testfleet.CLI("run", "-f", runFile, "--fleet", fleetFile, "--home", home)
	var driven testfleet.SyncBuffer
	driver.Stdout, driver.Stderr = &driven, &driven
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = driver.Process.Kill() })
	for deadline := time.Now().Add(3 * time.Minute); !strings.Contains(log.String(), ": upgrade pool user aks-abort"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pool's operation never started\n%s\n%s", driven.String(), log)
		}
	}
	code, out := testfleet.RunCLI(t, "stop", "abort-run", "--home", home, "--abort-cloud-operation")
	if code != 0 || !strings.Contains(out, "shop: aborted the") || !strings.Contains(out, "it is Canceled: check it, bring it back with `az aks update -g shop-rg -n aks-abort`") {
		t.Fatalf("stop --abort-cloud-operation: exit %d\n%s\n%s", code, out, log)
	}
	err = driver.Wait()
	exit, _ := err.(*exec.ExitError)
	if exit == nil || exit.ExitCode() != exitcode.Stopped {
		t.Errorf("the driver ended with %v, want exit %d (stopped)\n%s", err, exitcode.Stopped, driven.String())
	}
	st := &store.Store{Dir: home}
	run, err := st.Get("abort-run")
	if err != nil {
		t.Fatal(err)
	}
	cs := run.Status.Stages[0].Clusters[0]
	var pool v1alpha1.StepStatus
	for _, s := range cs.Steps {
		if s.Name == "NodePool user" {
			pool = s
		}
	}
	if run.Status.Phase != v1alpha1.PhaseStopped || cs.Phase != v1alpha1.PhaseStopped || pool.Phase != v1alpha1.PhaseStopped || !strings.Contains(pool.Message, "the cloud operation was aborted") {
		t.Errorf("after the abort: run %s, cluster %s, pool step %+v\n%s", run.Status.Phase, cs.Phase, pool, driven.String())
	}
	events, err := st.Events("abort-run")
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, e := range events {
		audited = audited || e.Type == store.EventCloudOperationAborted && strings.Contains(e.Message, "shop: aborted the") && strings.Contains(e.Message, "requested by")
	}
	if !audited {
		t.Errorf("no audit line for the abort: %+v", events)
	}
	mc, err := p.Clusters.Get(ctx, "shop-rg", "aks-abort", nil)
	if err != nil || mc.Properties.ProvisioningState == nil || *mc.Properties.ProvisioningState != "Canceled" {
		t.Errorf("the managed cluster after the abort: %v, %v", mc.Properties.ProvisioningState, err)
	}
	if n := strings.Count(log.String(), "abort requested"); n != 1 {
		t.Errorf("%d aborts reached Azure, want 1\n%s", n, log)
	}

	// Resuming meets the Canceled cluster: refused, saying what to do,
	// with no new operation.
	before := strings.Count(log.String(), "operation op-")
	code, out = testfleet.RunCLI(t, "resume", "abort-run", "--home", home)
	if code == 0 || !strings.Contains(out, "is Canceled: its last operation was aborted. Bring it back with `az aks update -g shop-rg -n aks-abort`, then resume the run") {
		t.Errorf("resume after the abort: exit %d\n%s", code, out)
	}
	if after := strings.Count(log.String(), "operation op-"); after != before {
		t.Errorf("the resume started an operation in Azure on a Canceled cluster\n%s", log)
	}

	// What the refusal says to do: az aks update (a PUT of the cluster as
	// it is) reconciles it; a resume then upgrades the pool again.
	poller, err := p.Clusters.BeginCreateOrUpdate(ctx, "shop-rg", "aks-abort", mc.ManagedCluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done, err := poller.PollUntilDone(ctx, nil); err != nil || *done.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("az aks update after the abort: %v", err)
	}
	testfleet.KillWhen(t, 2*time.Minute, func() bool { return strings.Count(log.String(), ": upgrade pool user aks-abort") == 2 },
		"resume", "abort-run", "--home", home)
}
