package aks_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
)

// TestAzureThrottlingAndOutage: while a run upgrades an AKS cluster,
// Azure throttles (429 with Retry-After) and then is unavailable (503),
// each for longer than the SDK's own retries last. The run waits, says
// so, and finishes: one control-plane operation and one pool operation
// issued, nothing done twice.
func TestAzureThrottlingAndOutage(t *testing.T) {
	emu, srv, log := faultyEmulator(t)
	p, err := aks.New(&v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "shop-rg", Name: "aks-faults", ARMEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	createAKS(t, p, "aks-faults", log)
	home := testfleet.Fleet(t).Home
	fleetFile, runFile := aksRun(t, srv.URL, "aks-faults", "faults", "faults-run", "  nodeUpgrade: {maxSurge: \"50%\", drainTimeout: 1m}\n  failurePolicy: {transientErrorTimeout: 3m}\n")

	// The SDK tries a request 6 times: 10 faults in a row outlast it.
	injected := make(chan struct{})
	go func() {
		defer close(injected)
		for _, f := range []struct {
			after  string
			status int
		}{{": upgrade aks-faults", http.StatusTooManyRequests}, {": upgrade pool user aks-faults", http.StatusServiceUnavailable}} {
			for deadline := time.Now().Add(3 * time.Minute); !strings.Contains(log.String(), f.after); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					return
				}
			}
			emu.Fail(10, f.status)
		}
	}()
	out, err := testfleet.CLI("run", "-f", runFile, "--fleet", fleetFile, "--home", home).CombinedOutput()
	<-injected
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out, log)
	}
	for _, status := range []string{"fault: answered 429", "fault: answered 503"} {
		if n := strings.Count(log.String(), status); n != 10 {
			t.Errorf("the emulator %s %d times, want 10: the fault was not injected where it should be\n%s", status, n, log)
		}
	}
	said := string(out)
	for _, want := range []string{"429", "503", "waiting"} {
		if !strings.Contains(said, want) {
			t.Errorf("the run's progress does not say %q:\n%s", want, said)
		}
	}
	run, err := (&store.Store{Dir: home}).Get("faults-run")
	if err != nil || run.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("run: %v\n%s", err, testfleet.StatusOf(run))
	}
	if n := strings.Count(log.String(), ": upgrade aks-faults"); n != 1 {
		t.Errorf("%d control-plane operations were issued; want 1\n%s", n, log)
	}
	if n := strings.Count(log.String(), ": upgrade pool user aks-faults"); n != 1 {
		t.Errorf("%d pool operations were issued; want 1", n)
	}
	after, err := p.Get(t.Context(), "aks-faults")
	if err != nil || after.KubernetesVersion != higher.Version || after.NodePools[0].KubernetesVersion != higher.Version || after.NodePools[0].Count != 2 {
		t.Errorf("after the run: %+v, %v", after, err)
	}
}
