package inplace_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/methods/inplace"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/steps"
)

// TestPlanRefusesWhatTheProviderCannotDo: a node upgrade that asks a
// provider for what it cannot do — AKS (at the API version upshift
// speaks) leaving an undrainable node cordoned, deleting the pods a
// budget keeps, or soaking on ready pods — is refused at plan time,
// naming the step, the operation and what to do instead; the local
// provider takes all of them.
func TestPlanRefusesWhatTheProviderCannotDo(t *testing.T) {
	builtin.Register()
	after := metav1.Duration{Duration: 600_000_000_000}
	for _, tc := range []struct {
		name     string
		nu       v1alpha1.NodeUpgradeSpec
		provider string
		want     string
	}{
		{"AKS, undrainableNodeBehavior Cordon", v1alpha1.NodeUpgradeSpec{UndrainableNodeBehavior: v1alpha1.UndrainableCordon}, v1alpha1.ProviderAKS,
			"step NodePool user needs cordon-undrainable-nodes, which provider aks cannot do: AKS API 2025-02-01 (the one upshift speaks) has no undrainableNodeBehavior"},
		{"AKS, undrainable then Cordon", v1alpha1.NodeUpgradeSpec{Undrainable: &v1alpha1.UndrainableSpec{After: &after, Then: v1alpha1.EscalateCordon}}, v1alpha1.ProviderAKS,
			"needs cordon-undrainable-nodes"},
		{"AKS, undrainable then DeletePod", v1alpha1.NodeUpgradeSpec{Undrainable: &v1alpha1.UndrainableSpec{After: &after, Then: v1alpha1.EscalateDeletePod}}, v1alpha1.ProviderAKS,
			"needs delete-undrainable-pods, which provider aks cannot do"},
		{"AKS, undrainable then Fail", v1alpha1.NodeUpgradeSpec{Undrainable: &v1alpha1.UndrainableSpec{After: &after, Then: v1alpha1.EscalateFail}}, v1alpha1.ProviderAKS, ""},
		{"exec, Cordon", v1alpha1.NodeUpgradeSpec{UndrainableNodeBehavior: v1alpha1.UndrainableCordon}, v1alpha1.ProviderExec, ""},
		{"local, DeletePod", v1alpha1.NodeUpgradeSpec{Undrainable: &v1alpha1.UndrainableSpec{After: &after, Then: v1alpha1.EscalateDeletePod}}, v1alpha1.ProviderLocal, ""},
	} {
		run := &v1alpha1.UpdateRun{Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly}, NodeUpgrade: tc.nu}}
		ci := steps.ClusterInfo{Cluster: v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, NodePools: []string{"user"}, Provider: tc.provider, Cannot: fleetmember.Cannot(tc.provider)}
		_, err := inplace.Method{}.Steps(run, ci)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
