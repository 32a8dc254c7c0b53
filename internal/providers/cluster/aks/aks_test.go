package aks_test

import (
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azurearm"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/azurespec"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
	"upshift.dev/upshift/internal/transient"
)

func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

var (
	lower  = toolchain.Previous()
	higher = toolchain.Latest()
)

// emulator serves ARM on loopback over the package's local fleet.
func emulator(t *testing.T) (*httptest.Server, *testfleet.SyncBuffer) {
	t.Helper()
	_, srv, log := faultyEmulator(t)
	return srv, log
}

// faultyEmulator is emulator, with the emulator itself to inject faults.
func faultyEmulator(t *testing.T) (*azureemu.Server, *httptest.Server, *testfleet.SyncBuffer) {
	t.Helper()
	emu := azureemu.New(testfleet.Fleet(t), "")
	log := &testfleet.SyncBuffer{}
	emu.Log = log
	// Every request the provider sends, every answer the emulator gives,
	// is held to Azure's published AKS contract.
	srv := httptest.NewServer(azurespec.Hold(t, emu))
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
	})
	return emu, srv, log
}

// TestAKSThroughTheEmulator creates a managed cluster through the Azure
// SDK (the emulator makes it a real local cluster), reads it through the
// provider, refuses bad input with what Azure said, then runs a staged
// update run over it with upshift killed (SIGKILL) while Azure's
// control-plane operation is under way: the resumed step waits for that
// operation instead of issuing another, and the run ends with the control
// plane and the pool on the target, each upgraded once.
func TestAKSThroughTheEmulator(t *testing.T) {
	srv, log := emulator(t)
	ctx := t.Context()
	spec := &v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "shop-rg", Name: "aks-shop", ARMEndpoint: srv.URL}
	p, err := aks.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	createAKS(t, p, "aks-shop", log)
	got, err := p.Get(ctx, "aks-shop")
	if err != nil || got.KubernetesVersion != lower.Version || len(got.NodePools) != 1 || got.NodePools[0].Count != 2 || got.NodePools[0].KubernetesVersion != lower.Version {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	versions, err := p.Versions(ctx)
	if err != nil || len(versions) != len(toolchain.Releases) || versions[len(versions)-1].String() != higher.Version {
		t.Errorf("Versions = %v, %v", versions, err)
	}

	// Bad input: one line that says what Azure said; nothing changes.
	for _, tc := range []struct {
		spec v1alpha1.AKSCluster
		want string
	}{
		{v1alpha1.AKSCluster{SubscriptionID: "11111111-2222-3333-4444-555555555555", ResourceGroup: "shop-rg", Name: "aks-shop", ARMEndpoint: srv.URL}, "404 SubscriptionNotFound"},
		{v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "shop-rg", Name: "aks-nope", ARMEndpoint: srv.URL}, "404 ResourceNotFound: The Resource 'Microsoft.ContainerService/managedClusters/aks-nope'"},
	} {
		bad, err := aks.New(&tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Get(ctx, tc.spec.Name)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "RESPONSE") || transient.Is(err) {
			t.Errorf("%+v: %v, want one line with %q", tc.spec, err, tc.want)
		}
	}
	if err := p.UpgradeControlPlane(ctx, "aks-shop", "v1.99.0"); err == nil || !strings.Contains(err.Error(), "K8sVersionNotSupported") {
		t.Errorf("an impossible version: %v", err)
	}

	c, err := testfleet.Fleet(t).Get("aks-shop")
	if err != nil {
		t.Fatal(err)
	}
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	// Record every node at the target that ever exists.
	stopWatch := testfleet.NodesAt(t, client, higher.Version)

	home := testfleet.Fleet(t).Home
	fleetFile, runFile := aksRun(t, srv.URL, "aks-shop", "shop", "aks-run", "  nodeUpgrade: {maxSurge: \"50%\", drainTimeout: 1m}\n")
	// AKS's own maintenance windows show in the plan.
	mcClient := p.Maintenance
	start, end := time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 26, 0, 0, 0, 0, time.UTC)
	window := armcontainerservice.MaintenanceConfiguration{Properties: &armcontainerservice.MaintenanceConfigurationProperties{MaintenanceWindow: &armcontainerservice.MaintenanceWindow{
		Schedule:      &armcontainerservice.Schedule{Weekly: &armcontainerservice.WeeklySchedule{DayOfWeek: to.Ptr(armcontainerservice.WeekDaySunday), IntervalWeeks: to.Ptr(int32(1))}},
		DurationHours: to.Ptr(int32(2)), StartTime: to.Ptr("00:00"), UTCOffset: to.Ptr("+01:00"),
		NotAllowedDates: []*armcontainerservice.DateSpan{{Start: &start, End: &end}},
	}}}
	if _, err := mcClient.CreateOrUpdate(ctx, "shop-rg", "aks-shop", "aksManagedAutoUpgradeSchedule", window, nil); err == nil || !strings.Contains(err.Error(), "durationHours must be at least 4") {
		t.Errorf("a 2h window: %v", err)
	}
	window.Properties.MaintenanceWindow.DurationHours = to.Ptr(int32(4))
	if _, err := mcClient.CreateOrUpdate(ctx, "shop-rg", "aks-shop", "aksManagedAutoUpgradeSchedule", window, nil); err != nil {
		t.Fatal(err)
	}
	planOut, err := testfleet.CLI("plan", "-f", runFile, "--fleet", fleetFile, "--home", home).CombinedOutput()
	if want := "note: maintenance configuration aksManagedAutoUpgradeSchedule: every 1 week(s) on Sunday at 00:00 UTC+01:00 for 4h, not 2026-12-24 to 2026-12-26"; err != nil || !strings.Contains(string(planOut), want) {
		t.Errorf("plan: %v\n%s\nwant %q", err, planOut, want)
	}
	// The pool's upgrade replayed, read-only, on the nodes AKS labels,
	// with AKS's window compared.
	planOut, err = testfleet.CLI("plan", "-f", runFile, "--fleet", fleetFile, "--home", home, "--simulate").CombinedOutput()
	for _, want := range []string{"simulation of pool user: 2 of 2 node(s) replaced, maxSurge 1: 2 batch(es)", "default for cloud node pools (no run of provider aks measured yet)",
		"window: fits: 2 node(s) at maxSurge 1 need about 12m (at worst 36m); AKS maintenance configuration aksManagedAutoUpgradeSchedule"} {
		if err != nil || !strings.Contains(string(planOut), want) {
			t.Errorf("plan --simulate: %v\n%s\nwant %q", err, planOut, want)
		}
	}
	// The window would hold the run until Sunday (TestAKSMaintenanceConfigurationHolds
	// tests that): this run goes on without it.
	if _, err := mcClient.Delete(ctx, "shop-rg", "aks-shop", "aksManagedAutoUpgradeSchedule", nil); err != nil {
		t.Fatal(err)
	}

	st := &store.Store{Dir: home}
	// Kill once Azure's control-plane operation is under way.
	testfleet.KillWhen(t, 2*time.Minute, func() bool { return strings.Contains(log.String(), ": upgrade aks-shop") },
		"run", "-f", runFile, "--fleet", fleetFile, "--home", home)
	resumed, err := testfleet.CLI("resume", "aks-run", "--home", home).CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s\n%s", err, resumed, log)
	}
	seen := stopWatch()
	run, err := st.Get("aks-run")
	if err != nil {
		t.Fatal(err)
	}
	if run.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("run %s: %s\n%s", run.Status.Phase, run.Status.Message, resumed)
	}
	if !strings.Contains(string(resumed), "managed cluster aks-shop is Upgrading: waiting for the operation under way") {
		t.Errorf("the resumed step did not say it waits for Azure's operation:\n%s", resumed)
	}
	if n := strings.Count(log.String(), ": upgrade aks-shop"); n != 1 {
		t.Errorf("%d control-plane operations were issued; want 1 (the resumed step waits for the one under way)\n%s", n, log)
	}
	if n := strings.Count(log.String(), ": upgrade pool user aks-shop"); n != 1 {
		t.Errorf("%d pool operations were issued; want 1", n)
	}
	after, err := p.Get(ctx, "aks-shop")
	if err != nil || after.KubernetesVersion != higher.Version || after.NodePools[0].KubernetesVersion != higher.Version || after.NodePools[0].Count != 2 {
		t.Errorf("after the run: %+v, %v", after, err)
	}
	// A node-image-only upgrade stores the run's upgradeSettings on the
	// pool, then moves it to the newest image.
	latest := nodeimages.Default().Latest().Version
	// AKS cannot be asked for an image by name: an older one is refused
	// before anything is sent.
	if _, err := p.UpgradeNodePool(ctx, "aks-shop", "user", cluster.NodePoolUpgrade{NodeImage: nodeimages.Default().Images[1].Version}); err == nil || !strings.Contains(err.Error(), "AKS moves a pool only to its newest node image ("+latest+")") {
		t.Errorf("an upgrade to an older image: %v", err)
	}
	res, err := p.UpgradeNodePool(ctx, "aks-shop", "user", cluster.NodePoolUpgrade{NodeImage: latest, MaxSurge: intstr.FromInt32(1), DrainTimeout: 90 * time.Second})
	if err != nil || res.Replaced != 2 || res.Batches != 2 {
		t.Errorf("node image upgrade: %+v, %v", res, err)
	}
	pool, err := p.Pools.Get(ctx, "shop-rg", "aks-shop", "user", nil)
	if err != nil || pool.Properties.NodeImageVersion == nil || *pool.Properties.NodeImageVersion != latest ||
		pool.Properties.UpgradeSettings == nil || pool.Properties.UpgradeSettings.MaxSurge == nil || *pool.Properties.UpgradeSettings.MaxSurge != "1" || *pool.Properties.UpgradeSettings.DrainTimeoutInMinutes != 2 {
		t.Errorf("pool after the image upgrade: %+v, %v", pool.Properties, err)
	}
	logFile, err := os.ReadFile(filepath.Join(testfleet.LogDir(c), "kube-apiserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logFile), "Serving securely on"); n != 2 {
		t.Errorf("the API server started %d times; want 2 (create and one upgrade)", n)
	}
	if len(seen) != 2 {
		t.Errorf("%d nodes at %s were created: %v; want 2", len(seen), higher.Version, seen)
	}
	if data, err := os.ReadFile(filepath.Join(home, "runs", "aks-run", "status.json")); err == nil && strings.Contains(string(data), azurearm.EmulatorToken) {
		t.Error("the bearer token reached the run's status")
	}
}

// createAKS creates a managed cluster at the lower version with a pool
// "user" of 2 nodes, through the SDK, and removes it when the test ends.
func createAKS(t *testing.T, p *aks.Provider, name string, log *testfleet.SyncBuffer) {
	t.Helper()
	t.Cleanup(func() { _ = testfleet.Fleet(t).Down(name) })
	poller, err := p.Clusters.BeginCreateOrUpdate(t.Context(), "shop-rg", name, armcontainerservice.ManagedCluster{
		Location: to.Ptr("local"),
		Properties: &armcontainerservice.ManagedClusterProperties{
			KubernetesVersion: to.Ptr(strings.TrimPrefix(lower.Version, "v")),
			AgentPoolProfiles: []*armcontainerservice.ManagedClusterAgentPoolProfile{{Name: to.Ptr("user"), Count: to.Ptr(int32(2)), Mode: to.Ptr(armcontainerservice.AgentPoolModeUser)}},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := poller.PollUntilDone(t.Context(), nil)
	if err != nil {
		t.Fatalf("create through the SDK: %v\n%s", err, log)
	}
	if to := created.Properties.ProvisioningState; to == nil || *to != "Succeeded" {
		t.Errorf("created cluster provisioningState %v", to)
	}
}

// aksRun writes a fleet file holding the managed cluster aksName as the
// fleet cluster fleetName (group prod), and a Full run runName of it to
// the higher version with the spec lines extra; it returns their paths.
func aksRun(t *testing.T, arm, aksName, fleetName, runName, extra string) (fleetFile, runFile string) {
	t.Helper()
	dir := t.TempDir()
	fleetFile, runFile = filepath.Join(dir, "fleet.yaml"), filepath.Join(dir, "run.yaml")
	write(t, fleetFile, fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: %s}
spec:
  provider: aks
  group: prod
  aks: {subscriptionID: %s, resourceGroup: shop-rg, name: %s, armEndpoint: %q}
`, fleetName, azureemu.DefaultSubscription, aksName, arm))
	write(t, runFile, fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: %s}
spec:
  strategy: {stages: [{name: prod, groups: [{name: prod}]}]}
  upgrade: {type: Full, kubernetesVersion: "%s"}
%s`, runName, higher.Minor, extra))
	return fleetFile, runFile
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBadAzureSetup: a wrong ARM endpoint and missing credentials each give
// one line that says what to fix; nothing is resolved.
func TestBadAzureSetup(t *testing.T) {
	resolve, err := aks.Open(fleetmember.Env{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	member := func(endpoint string) v1alpha1.Cluster {
		return v1alpha1.Cluster{Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderAKS, AKS: &v1alpha1.AKSCluster{
			SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "rg", Name: "prod", ARMEndpoint: endpoint}}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	_, err = resolve(member(closed))
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "is spec.aks.armEndpoint right?") || strings.Contains(err.Error(), "\n") {
		t.Errorf("a wrong ARM endpoint: %v", err)
	}

	for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "IDENTITY_ENDPOINT", "MSI_ENDPOINT"} {
		t.Setenv(k, "")
	}
	t.Setenv("PATH", t.TempDir()) // no az on the PATH
	t.Setenv("HOME", t.TempDir())
	_, err = resolve(member(""))
	if err == nil || !strings.Contains(err.Error(), "no Azure credentials: set AZURE_TENANT_ID") || !strings.Contains(err.Error(), "EnvironmentCredential") || strings.Contains(err.Error(), "\n") {
		t.Errorf("no credentials: %v", err)
	}
}
