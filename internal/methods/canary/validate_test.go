package canary_test

import (
	"strings"
	"testing"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/methods/canary"
	"upshift.dev/upshift/internal/plan"
)

func validRun() *v1alpha1.UpdateRun {
	return &v1alpha1.UpdateRun{Spec: v1alpha1.UpdateRunSpec{
		Method:  v1alpha1.MethodCanary,
		Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: "1.37"},
		BlueGreen: &v1alpha1.BlueGreenSpec{Traffic: v1alpha1.TrafficSpec{
			Provider: v1alpha1.TrafficGateway, Hosts: hosts,
			Gateway: &v1alpha1.GatewayTraffic{AdminURL: "http://127.0.0.1:9090", TokenFile: "/t"},
		}},
		Canary: &v1alpha1.CanarySpec{
			Steps:    []v1alpha1.CanaryStep{{Weight: 10, Pause: pause(60e9)}, {Weight: 50, Approval: true}},
			Analysis: []v1alpha1.GateSpec{{Name: "m", Type: v1alpha1.GateMetrics}},
		},
	}}
}

func TestValidate(t *testing.T) {
	if errs := (canary.Method{}).Validate(validRun()); len(errs) > 0 {
		t.Fatalf("a valid canary is refused: %v", errs)
	}
	withTesters := validRun()
	withTesters.Spec.Canary.Steps = append([]v1alpha1.CanaryStep{{Testers: true, Pause: pause(60e9)}}, withTesters.Spec.Canary.Steps...)
	if errs := (canary.Method{}).Validate(withTesters); len(errs) > 0 {
		t.Fatalf("a canary with a testers step is refused: %v", errs)
	}
	for _, tc := range []struct {
		name  string
		edit  func(r *v1alpha1.UpdateRun)
		wants string
	}{
		{"DNS cannot split", func(r *v1alpha1.UpdateRun) {
			r.Spec.BlueGreen.Traffic.Provider = v1alpha1.TrafficDNS
			r.Spec.BlueGreen.Traffic.DNS = &v1alpha1.DNSTraffic{Server: "127.0.0.1:53", Zone: "example.com", KeyName: "k", KeySecretFile: "/k"}
			r.Spec.Canary.Analysis = nil
		}, `spec.blueGreen.traffic.provider: Invalid value: "dns": a canary splits traffic by weight`},
		{"no steps", func(r *v1alpha1.UpdateRun) { r.Spec.Canary.Steps = nil }, "spec.canary.steps: Required value"},
		{"no canary section", func(r *v1alpha1.UpdateRun) { r.Spec.Canary = nil }, "spec.canary.steps: Required value"},
		{"weight going down", func(r *v1alpha1.UpdateRun) { r.Spec.Canary.Steps[1].Weight = 5 }, "spec.canary.steps[1].weight: Invalid value: 5: weights never go down"},
		{"weight 0", func(r *v1alpha1.UpdateRun) { r.Spec.Canary.Steps[0].Weight = 0 }, "spec.canary.steps[0].weight: Invalid value: 0: green's share in percent: use 1 to 100"},
		{"weight over 100", func(r *v1alpha1.UpdateRun) { r.Spec.Canary.Steps[1].Weight = 120 }, "use 1 to 100"},
		{"negative pause", func(r *v1alpha1.UpdateRun) { r.Spec.Canary.Steps[0].Pause = pause(-1) }, "spec.canary.steps[0].pause: Invalid value"},
		{"Metrics without the gateway", func(r *v1alpha1.UpdateRun) {
			r.Spec.BlueGreen.Traffic.Provider = v1alpha1.TrafficTrafficManager
			r.Spec.BlueGreen.Traffic.TrafficManager = &v1alpha1.TrafficManagerTraffic{SubscriptionID: "s", ResourceGroup: "g"}
		}, `spec.canary.analysis[0].type: Invalid value: "Metrics": Metrics gates read the front door's own counters of each backend: use traffic provider gateway or haproxy`},
		{"p95 through HAProxy", func(r *v1alpha1.UpdateRun) {
			r.Spec.BlueGreen.Traffic.Provider = v1alpha1.TrafficHAProxy
			r.Spec.BlueGreen.Traffic.HAProxy = &v1alpha1.HAProxyTraffic{RuntimeAPI: "/run/haproxy/admin.sock"}
			p95 := 50
			r.Spec.Canary.Analysis[0].Metrics = &v1alpha1.MetricsGate{MaxP95IncreasePercent: &p95}
		}, "spec.canary.analysis[0].metrics.maxP95IncreasePercent: Invalid value: 50: HAProxy counts answers by class, not by time"},
		{"Metrics limits", func(r *v1alpha1.UpdateRun) {
			bad := 101
			r.Spec.Canary.Analysis[0].Metrics = &v1alpha1.MetricsGate{MaxErrorRatePercent: &bad}
		}, "spec.canary.analysis[0].metrics.maxErrorRatePercent: Invalid value: 101: use 0 to 100"},
		{"an analysis gate without a name", func(r *v1alpha1.UpdateRun) { r.Spec.Canary.Analysis[0].Name = "" }, "spec.canary.analysis[0].name: Required value"},
		{"testers after the first step", func(r *v1alpha1.UpdateRun) { r.Spec.Canary.Steps[1].Testers, r.Spec.Canary.Steps[1].Weight = true, 0 }, "spec.canary.steps[1].testers: Invalid value: true: only the first step"},
		{"testers with users", func(r *v1alpha1.UpdateRun) { r.Spec.Canary.Steps[0].Testers = true }, "spec.canary.steps[0].weight: Invalid value: 10: a testers step keeps users on blue: weight 0"},
		{"blue-green's own rules hold", func(r *v1alpha1.UpdateRun) { r.Spec.Upgrade.Type = v1alpha1.UpgradeControlPlaneOnly }, "spec.upgrade.type"},
	} {
		r := validRun()
		tc.edit(r)
		if errs := (canary.Method{}).Validate(r).ToAggregate(); errs == nil || !strings.Contains(errs.Error(), tc.wants) {
			t.Errorf("%s: %v, want %q", tc.name, errs, tc.wants)
		}
	}
}

func TestMetricsGatesOnlyInAnalysis(t *testing.T) {
	r := validRun()
	r.Name = "metrics-in-preflight"
	r.Spec.Gates.Preflight = []v1alpha1.GateSpec{{Name: "m", Type: v1alpha1.GateMetrics}}
	errs := plan.Validate(r, &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all"}}})
	if agg := errs.ToAggregate(); agg == nil || !strings.Contains(agg.Error(), "use it in spec.canary.analysis") {
		t.Errorf("a Metrics gate in preflight: %v", agg)
	}
}

func TestPlanEndsAt100(t *testing.T) {
	steps := canary.Plan(validRun().Spec.Canary)
	if len(steps) != 3 || steps[2].Weight != 100 || steps[2].Pause != nil {
		t.Errorf("Plan = %+v, want the spec's steps and a final 100%%", steps)
	}
	full := &v1alpha1.CanarySpec{Steps: []v1alpha1.CanaryStep{{Weight: 50}, {Weight: 100}}}
	if got := canary.Plan(full); len(got) != 2 {
		t.Errorf("Plan of steps ending at 100 = %+v", got)
	}
}

// TestApprovalGates: `upshift approve --gate` accepts a held step's gate
// and the analysis's Approval gates, and nothing else.
func TestApprovalGates(t *testing.T) {
	r := validRun()
	r.Name = "c"
	r.Spec.Canary.Analysis = append(r.Spec.Canary.Analysis, v1alpha1.GateSpec{Name: "qa-says-yes", Type: v1alpha1.GateApproval})
	r.Status.Stages = []v1alpha1.StageStatus{{Name: "prod", Clusters: []v1alpha1.StageClusterStatus{{Name: "shop"}}}}
	for _, gate := range []string{"canary-step-2", "qa-says-yes"} {
		if err := engine.CheckApproval(r, "", "", "shop", gate); err != nil {
			t.Errorf("approve --gate %s: %v", gate, err)
		}
	}
	if err := engine.CheckApproval(r, "", "", "shop", "canary-step-1"); err == nil || !strings.Contains(err.Error(), "it has qa-says-yes, canary-step-2") {
		t.Errorf("approve --gate canary-step-1 (a step without approval): %v", err)
	}
}
