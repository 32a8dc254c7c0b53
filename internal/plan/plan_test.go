package plan

import (
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/steps"
	"upshift.dev/upshift/internal/toolchain"
)

const runFile = `apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: fleet-1-34}
spec:
  strategyRef: {name: three-stages}
  upgrade: {type: Full, kubernetesVersion: "1.34"}
  nodeUpgrade: {maxSurge: "33%", drainTimeout: 10m}
  gates:
    postUpgrade:
    - {name: healthy, type: KubernetesHealth}
---
apiVersion: upshift.dev/v1alpha1
kind: UpdateStrategy
metadata: {name: three-stages}
spec:
  stages:
  - {name: dev, groups: [{name: dev}], afterStageWaitInSeconds: 60}
  - {name: test, groups: [{name: test}], maxConcurrency: 2}
  - name: prod
    groups: [{name: prod-east}, {name: prod-west}]
    beforeStageTasks: [{type: Approval}]
`

var releases = []toolchain.Release{{Minor: "1.32", Version: "v1.32.9"}, {Minor: "1.33", Version: "v1.33.13"}, {Minor: "1.34", Version: "v1.34.4"}}

// build plans with every cluster able to run rel.
func build(run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, fleet []ClusterInfo, rel []toolchain.Release) (*Plan, field.ErrorList) {
	for i := range fleet {
		fleet[i].Available = toolchain.Versions(rel)
	}
	return Build(run, strategy, fleet)
}

func TestMain(m *testing.M) {
	builtin.Register()
	os.Exit(m.Run())
}

func cluster(name, group, version string, pools ...string) ClusterInfo {
	c := v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.ClusterSpec{Provider: "local", Group: group}}
	return ClusterInfo{Cluster: c, Version: version, NodePools: pools}
}

func TestParseAndBuild(t *testing.T) {
	docs, err := Parse("run.yaml", []byte(runFile))
	if err != nil {
		t.Fatal(err)
	}
	strategy := &docs.Strategies["three-stages"].Spec
	if errs := Validate(docs.Run, strategy); len(errs) > 0 {
		t.Fatal(errs)
	}
	fleet := []ClusterInfo{
		cluster("dev-1", "dev", "v1.33.13", "system"),
		cluster("test-1", "test", "v1.32.9", "system", "user"),
		cluster("test-2", "test", "v1.34.4", "user"),
		cluster("east-1", "prod-east", "v1.33.13", "user"),
		cluster("west-1", "prod-west", "v1.33.13", "user"),
	}
	p, errs := build(docs.Run, strategy, fleet, releases)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(p.Stages) != 3 || len(p.Stages[2].Groups) != 2 || len(p.Stages[2].Before) != 1 {
		t.Fatalf("plan = %+v", p)
	}
	if after := p.Stages[0].After; len(after) != 1 || after[0].Type != v1alpha1.TaskTimedWait || after[0].WaitTime.Duration.Seconds() != 60 {
		t.Errorf("Azure's afterStageWaitInSeconds did not become a TimedWait: %+v", after)
	}
	test1 := p.Stages[1].Groups[0].Clusters[0]
	want := []string{"ControlPlane v1.33.13", "ControlPlane v1.34.4", "NodePool system", "NodePool user", "PostUpgrade"}
	if stepNames(test1.Steps, ",") != strings.Join(want, ",") {
		t.Errorf("test-1 steps = %v, want %v (two hops)", test1.Steps, want)
	}
	test2 := p.Stages[1].Groups[0].Clusters[1]
	if stepNames(test2.Steps, ",") != "NodePool user,PostUpgrade" {
		t.Errorf("test-2 (already at 1.34) steps = %v", test2.Steps)
	}
	if Concurrency(p.Stages[1].MaxConcurrency, 2) != 2 {
		t.Errorf("maxConcurrency 2 resolved to %d", Concurrency(p.Stages[1].MaxConcurrency, 2))
	}
}

func TestPlanErrors(t *testing.T) {
	docs, _ := Parse("run.yaml", []byte(runFile))
	strategy := &docs.Strategies["three-stages"].Spec
	for _, tc := range []struct {
		name  string
		fleet []ClusterInfo
		rel   []toolchain.Release
		want  string
	}{
		{"unselected cluster", []ClusterInfo{cluster("dev-1", "dev", "v1.33.13"), cluster("test-1", "test", "v1.33.13"), cluster("east", "prod-east", "v1.33.13"), cluster("west", "prod-west", "v1.33.13"), cluster("lost", "qa", "v1.33.13")}, releases, "lost is selected by no stage"},
		{"empty group", []ClusterInfo{cluster("dev-1", "dev", "v1.33.13"), cluster("test-1", "test", "v1.33.13"), cluster("east", "prod-east", "v1.33.13")}, releases, "prod-west"},
		{"downgrade", []ClusterInfo{cluster("dev-1", "dev", "v1.35.0"), cluster("test-1", "test", "v1.33.13"), cluster("east", "prod-east", "v1.33.13"), cluster("west", "prod-west", "v1.33.13")}, releases, "downgrading"},
		{"missing hop", []ClusterInfo{cluster("dev-1", "dev", "v1.32.9"), cluster("test-1", "test", "v1.33.13"), cluster("east", "prod-east", "v1.33.13"), cluster("west", "prod-west", "v1.33.13")}, releases[:1:1], "needs the hop to 1.33"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := tc.rel
			if len(rel) == 1 {
				rel = []toolchain.Release{releases[0], releases[2]}
			}
			_, errs := build(docs.Run, strategy, tc.fleet, rel)
			if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Errorf("errors %v, want one with %q", errs, tc.want)
			}
		})
	}
	// A patch the provider does not offer is refused, with those it
	// does, even for clusters already on its minor: it was taken as met,
	// and the run Completed with nothing done.
	missing := docs.Run.DeepCopy()
	missing.Spec.Upgrade.KubernetesVersion = "1.34.9"
	fleet := []ClusterInfo{cluster("dev-1", "dev", "v1.34.4"), cluster("test-1", "test", "v1.33.13"), cluster("east", "prod-east", "v1.34.4"), cluster("west", "prod-west", "v1.34.4")}
	_, errs := build(missing, strategy, fleet, releases)
	if msg := errs.ToAggregate().Error(); !strings.Contains(msg, "cluster dev-1: runs v1.34.4: kubernetes version v1.34.9 is not available; available: 1.32 (v1.32.9), 1.33 (v1.33.13), 1.34 (v1.34.4)") || strings.Contains(msg, "no cluster of the fleet") {
		t.Errorf("a patch that does not exist: %v", errs)
	}
	overlap := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{
		{Name: "a", Groups: []v1alpha1.GroupRef{{Name: "dev"}}},
		{Name: "b", LabelSelector: &metav1.LabelSelector{}},
	}}
	if _, errs := build(docs.Run, overlap, []ClusterInfo{cluster("dev-1", "dev", "v1.33.13")}, releases); !strings.Contains(errs.ToAggregate().Error(), "also selected by stage a") {
		t.Errorf("overlap: %v", errs)
	}
}

func TestValidate(t *testing.T) {
	base := func() (*v1alpha1.UpdateRun, *v1alpha1.UpdateStrategySpec) {
		docs, _ := Parse("run.yaml", []byte(runFile))
		return docs.Run, &docs.Strategies["three-stages"].Spec
	}
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.UpdateRun, *v1alpha1.UpdateStrategySpec)
		want   string
	}{
		{"bad version", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Upgrade.KubernetesVersion = "latest"
		}, "spec.upgrade.kubernetesVersion"},
		{"bad type", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) { r.Spec.Upgrade.Type = "Everything" }, `spec.upgrade.type: Unsupported value: "Everything"`},
		{"version with node image only", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Upgrade.Type = v1alpha1.UpgradeNodeImageOnly
		}, "NodeImageOnly keeps"},
		{"duplicate stage", func(_ *v1alpha1.UpdateRun, s *v1alpha1.UpdateStrategySpec) { s.Stages[1].Name = "dev" }, `spec.strategy.stages[1].name: Duplicate value: "dev"`},
		{"negative quoted surge", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			v := intstr.FromString("-1")
			r.Spec.NodeUpgrade.MaxSurge = &v
		}, "spec.nodeUpgrade.maxSurge"},
		{"bad surge", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			v := r.Spec.NodeUpgrade.MaxSurge
			v.StrVal = "lots"
		}, "spec.nodeUpgrade.maxSurge"},
		{"an escalation with undrainableNodeBehavior", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.NodeUpgrade.UndrainableNodeBehavior = v1alpha1.UndrainableCordon
			r.Spec.NodeUpgrade.Undrainable = &v1alpha1.UndrainableSpec{Then: v1alpha1.EscalateDeletePod}
		}, "spec.nodeUpgrade.undrainable: Invalid value: \"DeletePod\": set either undrainable or undrainableNodeBehavior, not both"},
		{"an unknown escalation", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.NodeUpgrade.Undrainable = &v1alpha1.UndrainableSpec{Then: "Evict"}
		}, `spec.nodeUpgrade.undrainable.then: Unsupported value: "Evict"`},
		{"local data on a cordon", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.NodeUpgrade.Undrainable = &v1alpha1.UndrainableSpec{Then: v1alpha1.EscalateCordon, AllowLocalData: true}
		}, "spec.nodeUpgrade.undrainable.allowLocalData: Invalid value: true: only DeletePod deletes pods"},
		{"a failure limit that is not a count", func(_ *v1alpha1.UpdateRun, s *v1alpha1.UpdateStrategySpec) {
			v := intstr.FromString("some")
			s.Stages[1].Groups[0].MaxFailedClusters = &v
		}, "spec.strategy.stages[1].groups[0].maxFailedClusters"},
		{"custom image without image", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Upgrade.NodeImageSelection = &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageCustom}
		}, "spec.upgrade.nodeImageSelection.image"},
		{"canary without settings", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) { r.Spec.Method = v1alpha1.MethodCanary }, "spec.canary.steps: Required value"},
		{"canary settings on in-place", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Canary = &v1alpha1.CanarySpec{Steps: []v1alpha1.CanaryStep{{Weight: 50}}}
		}, "spec.canary: Forbidden: set method: Canary"},
		{"canary settings on blue-green", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Method, r.Spec.BlueGreen = v1alpha1.MethodBlueGreen, validBlueGreen()
			r.Spec.Canary = &v1alpha1.CanarySpec{Steps: []v1alpha1.CanaryStep{{Weight: 50}}}
		}, "spec.canary: Forbidden: set method: Canary"},
		{"a notification sink without its URL", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Notifications = []v1alpha1.NotificationSink{{Name: "chat"}}
		}, "spec.notifications[0].urlFile: Required value: give urlFile"},
		{"a notification sink with both", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Notifications = []v1alpha1.NotificationSink{{Name: "chat", URL: "https://x", URLFile: "/f"}}
		}, "spec.notifications[0].urlFile: Required value: give urlFile"},
		{"a notification URL that is not http", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Notifications = []v1alpha1.NotificationSink{{Name: "chat", URL: "ftp://hooks.example.com/T0/secret"}}
		}, "spec.notifications[0].url: Invalid value: \"(not shown)\": an http(s) URL is required"},
		{"an unknown notification event and format", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Notifications = []v1alpha1.NotificationSink{{Name: "chat", URL: "https://x", Format: "IRC", Events: []string{"RunStarted", "Lunch"}}}
		}, `spec.notifications[0].events[1]: Unsupported value: "Lunch"`},
		{"two sinks of one name", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Notifications = []v1alpha1.NotificationSink{{Name: "chat", URL: "https://x"}, {Name: "chat", URL: "https://y"}}
		}, `spec.notifications[1].name: Duplicate value: "chat"`},
		{"blue-green without settings", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) { r.Spec.Method = v1alpha1.MethodBlueGreen }, "spec.blueGreen: Required value"},
		{"blue-green settings on in-place", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) { r.Spec.BlueGreen = validBlueGreen() }, "spec.blueGreen: Forbidden: set method: BlueGreen"},
		{"blue-green of the control plane only", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Method, r.Spec.BlueGreen, r.Spec.Upgrade.Type = v1alpha1.MethodBlueGreen, validBlueGreen(), v1alpha1.UpgradeControlPlaneOnly
		}, "spec.upgrade.type: Invalid value: \"ControlPlaneOnly\": a blue-green move builds a whole new cluster"},
		{"blue-green unknown provider", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Method, r.Spec.BlueGreen = v1alpha1.MethodBlueGreen, validBlueGreen()
			r.Spec.BlueGreen.Traffic.Provider = "cloudflare"
		}, "spec.blueGreen.traffic.provider: Unsupported value: \"cloudflare\""},
		{"blue-green names not distinct", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Method, r.Spec.BlueGreen = v1alpha1.MethodBlueGreen, validBlueGreen()
			r.Spec.BlueGreen.Traffic.Hosts.Green = r.Spec.BlueGreen.Traffic.Hosts.Blue
		}, "spec.blueGreen.traffic.hosts.green: Invalid value: \"aks-blue.example.com\": the same name as hosts.blue"},
		{"blue-green manifests without a path", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Method, r.Spec.BlueGreen = v1alpha1.MethodBlueGreen, validBlueGreen()
			r.Spec.BlueGreen.Sync.Source = v1alpha1.SyncManifests
		}, "spec.blueGreen.sync.manifests: Required value"},
		{"blue-green bad deployer", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Method, r.Spec.BlueGreen = v1alpha1.MethodBlueGreen, validBlueGreen()
			r.Spec.BlueGreen.Freeze.ServiceAccounts = []string{"deployer"}
		}, "spec.blueGreen.freeze.serviceAccounts[0]: Invalid value: \"deployer\": write namespace/name"},
		{"gate without url", func(r *v1alpha1.UpdateRun, _ *v1alpha1.UpdateStrategySpec) {
			r.Spec.Gates.PostUpgrade = append(r.Spec.Gates.PostUpgrade, v1alpha1.GateSpec{Name: "web", Type: v1alpha1.GateHTTP})
		}, "spec.gates.postUpgrade[1].http.url"},
		{"timed wait without time", func(_ *v1alpha1.UpdateRun, s *v1alpha1.UpdateStrategySpec) {
			s.Stages[0].AfterStageTasks = []v1alpha1.StageTask{{Type: v1alpha1.TaskTimedWait}}
		}, "spec.strategy.stages[0].afterStageTasks[0].waitTime"},
		{"stage without selection", func(_ *v1alpha1.UpdateRun, s *v1alpha1.UpdateStrategySpec) { s.Stages[0].Groups = nil }, "spec.strategy.stages[0].groups"},
		{"a group's window too short", func(_ *v1alpha1.UpdateRun, s *v1alpha1.UpdateStrategySpec) {
			s.Stages[0].Groups[0].MaintenanceWindow = &v1alpha1.MaintenanceWindow{Schedule: v1alpha1.WindowSchedule{Cron: "0 2 * * SUN"}, DurationHours: 2}
		}, "spec.strategy.stages[0].groups[0].maintenanceWindow.durationHours: Invalid value: 2: must be 4 to 24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, strategy := base()
			tc.mutate(run, strategy)
			errs := Validate(run, strategy)
			if !strings.Contains(ErrorsString(errs), tc.want) {
				t.Errorf("errors %q, want one with %q", ErrorsString(errs), tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		// Unknown fields by their path and line in the file, with the
		// name they are closest to (was: "error unmarshaling JSON: ...").
		{"unknown field", strings.Replace(runFile, "nodeUpgrade:", "nodeUpgrades:", 1), `run.yaml: line 7: spec.nodeUpgrades: unknown field; did you mean nodeUpgrade?`},
		{"a typo inside a flow mapping", strings.Replace(runFile, "kubernetesVersion:", "kubernetesVerison:", 1), `run.yaml: line 6: spec.upgrade.kubernetesVerison: unknown field; did you mean kubernetesVersion?`},
		{"a typo in a later document", strings.Replace(runFile, "afterStageWaitInSeconds", "afterStageWaitInSecond", 1), `run.yaml: line 17: spec.stages[0].afterStageWaitInSecond: unknown field; did you mean afterStageWaitInSeconds?`},
		{"a name in the wrong case", strings.Replace(runFile, "afterStageWaitInSeconds", "afterStageWaitInseconds", 1), `run.yaml: line 17: spec.stages[0].afterStageWaitInseconds: unknown field; did you mean afterStageWaitInSeconds?`},
		{"nothing close", strings.Replace(runFile, "nodeUpgrade:", "zzzzzz:", 1), `spec.zzzzzz: unknown field (known here: `},
		{"no run", "apiVersion: upshift.dev/v1alpha1\nkind: UpdateStrategy\nmetadata: {name: s}\nspec: {stages: []}\n", "no UpdateRun"},
		{"wrong kind", "apiVersion: upshift.dev/v1alpha1\nkind: Deployment\n", `kind "Deployment"`},
		{"wrong group", "apiVersion: apps/v1\nkind: UpdateRun\n", "want upshift.dev/v1alpha1"},
		{"malformed", "apiVersion: [\n", "document 1"},
		// YAML reads 1.40 as the number 1.4.
		{"version as a number", strings.Replace(runFile, `kubernetesVersion: "1.34"`, "kubernetesVersion: 1.40", 1), `run.yaml: line 6: kubernetesVersion: 1.40 is a number to YAML, not a version; quote it: kubernetesVersion: "1.40"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse("run.yaml", []byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseAzureStages(t *testing.T) {
	s, err := ParseAzureStages("upgrade-stages.json", []byte(`{"stages":[{"name":"development","groups":[{"name":"dev-clusters"}],"afterStageWaitInSeconds":1800},{"name":"production","groups":[{"name":"prod-clusters"}]}]}`))
	if err != nil || len(s.Stages) != 2 || s.Stages[0].AfterStageWaitInSeconds != 1800 || s.Stages[1].Groups[0].Name != "prod-clusters" {
		t.Fatalf("ParseAzureStages = %+v, %v", s, err)
	}
	gated, err := ParseAzureStages("gated.json", []byte(`{"stages":[{"name":"production","groups":[{"name":"prod"}],"beforeGates":[{"displayName":"Change board sign-off","type":"Approval"}]}]}`))
	if err != nil || len(gated.Stages[0].BeforeStageTasks) != 1 || gated.Stages[0].BeforeStageTasks[0].Name != "change-board-sign-off" || gated.Stages[0].BeforeGates != nil {
		t.Errorf("Azure beforeGates: %+v, %v", gated, err)
	}
	if _, err := ParseAzureStages("bad.json", []byte(`{"stages":[{"name":"p","groups":[{"name":"g"}],"afterGates":[{"type":"Wait"}]}]}`)); err == nil || !strings.Contains(err.Error(), "of type Approval") {
		t.Errorf("a non-approval Azure gate: %v", err)
	}
	if _, err := ParseAzureStages("x.json", []byte(`{"stages":[{"name":"a","group":[]}]}`)); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("unknown field accepted: %v", err)
	}
}

func FuzzParseAndValidate(f *testing.F) {
	f.Add([]byte(runFile))
	f.Add([]byte(`{"stages":[{"name":"a","groups":[{"name":"g"}],"afterStageWaitInSeconds":-1}]}`))
	f.Add([]byte("apiVersion: upshift.dev/v1alpha1\nkind: UpdateRun\nspec: {nodeUpgrade: {maxSurge: \"x%\"}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if docs, err := Parse("fuzz.yaml", data); err == nil {
			var strategy *v1alpha1.UpdateStrategySpec
			if docs.Run.Spec.Strategy != nil {
				strategy = docs.Run.Spec.Strategy
			}
			_ = Validate(docs.Run, strategy)
		}
		if s, err := ParseAzureStages("fuzz.json", data); err == nil {
			_ = validateStrategy(nil, s)
		}
	})
}

func validBlueGreen() *v1alpha1.BlueGreenSpec {
	return &v1alpha1.BlueGreenSpec{Traffic: v1alpha1.TrafficSpec{
		Provider: v1alpha1.TrafficGateway,
		Gateway:  &v1alpha1.GatewayTraffic{AdminURL: "http://127.0.0.1:9090", TokenFile: "token"},
		Hosts:    v1alpha1.HostNames{Public: "shop.example.com", Cluster: "aks.example.com", Blue: "aks-blue.example.com", Green: "aks-green.example.com"},
	}}
}

func TestValidBlueGreen(t *testing.T) {
	docs, err := Parse("run.yaml", []byte(runFile))
	if err != nil {
		t.Fatal(err)
	}
	docs.Run.Spec.Method, docs.Run.Spec.BlueGreen = v1alpha1.MethodBlueGreen, validBlueGreen()
	if errs := Validate(docs.Run, &docs.Strategies["three-stages"].Spec); len(errs) > 0 {
		t.Fatalf("a valid blue-green run was refused: %v", errs)
	}
}

// TestBlueGreenFleetNeedsNamesPerCluster: one blue-green run over several
// clusters must give each its own names; with the placeholder, each
// cluster's plan is the five phases.
func TestBlueGreenFleetNeedsNamesPerCluster(t *testing.T) {
	docs, err := Parse("run.yaml", []byte(runFile))
	if err != nil {
		t.Fatal(err)
	}
	strategy := &docs.Strategies["three-stages"].Spec
	run := docs.Run
	run.Spec.Method, run.Spec.BlueGreen = v1alpha1.MethodBlueGreen, validBlueGreen()
	fleet := []ClusterInfo{
		cluster("dev-1", "dev", "v1.33.13"), cluster("test-1", "test", "v1.33.13"),
		cluster("east-1", "prod-east", "v1.33.13"), cluster("west-1", "prod-west", "v1.33.13"),
	}
	if _, errs := build(run, strategy, fleet, releases); len(errs) != 1 || !strings.Contains(errs[0].Error(), "put {cluster} in all four") {
		t.Fatalf("shared names over 4 clusters: %v", errs)
	}
	run.Spec.BlueGreen.Traffic.Hosts = v1alpha1.HostNames{Public: "{cluster}.shop.example.com", Cluster: "{cluster}.aks.example.com", Blue: "{cluster}-blue.aks.example.com", Green: "{cluster}-green.aks.example.com"}
	if errs := Validate(run, strategy); len(errs) > 0 {
		t.Fatalf("names with the placeholder refused: %v", errs)
	}
	p, errs := build(run, strategy, fleet, releases)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := stepNames(p.Stages[0].Groups[0].Clusters[0].Steps, " "); got != "T0-Baseline T1-DeployGreen T2-Sync T3-Switch T4-RetireBlue" {
		t.Fatalf("steps %s", got)
	}
	if h := run.Spec.BlueGreen.Traffic.Hosts.For("east-1"); h.Cluster != "east-1.aks.example.com" || h.Green != "east-1-green.aks.example.com" {
		t.Fatalf("names of east-1: %+v", h)
	}
}

func stepNames(s []steps.Step, sep string) string {
	var names []string
	for _, step := range s {
		names = append(names, step.Name())
	}
	return strings.Join(names, sep)
}

// TestQuotedSurgeCount: maxSurge "1", as AKS's API writes it, is a count.
func TestQuotedSurgeCount(t *testing.T) {
	docs, err := Parse("run.yaml", []byte(strings.Replace(runFile, `maxSurge: "33%"`, `maxSurge: "1"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if docs.Run.Spec.NodeUpgrade.MaxSurge.String() != "1" {
		t.Fatalf("the run file was not changed: %v", docs.Run.Spec.NodeUpgrade.MaxSurge)
	}
	if errs := Validate(docs.Run, &docs.Strategies["three-stages"].Spec); len(errs) > 0 {
		t.Errorf("maxSurge \"1\" refused: %v", errs)
	}
}
