package plan

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
)

// BlueGreenRun is the run `upshift bluegreen` makes: one stage over its
// fleet (the cluster moved), the BlueGreen method with bg, to version. A
// canary is this run with the Canary method and its steps.
func BlueGreenRun(name, version string, bg *v1alpha1.BlueGreenSpec) *v1alpha1.UpdateRun {
	return &v1alpha1.UpdateRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.UpdateRunSpec{
			Method:    v1alpha1.MethodBlueGreen,
			BlueGreen: bg,
			Upgrade:   v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: version},
			Strategy:  &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "bluegreen", LabelSelector: &metav1.LabelSelector{}}}},
		},
	}
}

// CanaryFile is a canary command's settings: the blueGreen section of an
// UpdateRun (how green is built, filled and retired) with the canary's
// steps and analysis beside it.
type CanaryFile struct {
	v1alpha1.BlueGreenSpec `json:",inline"`
	Steps                  []v1alpha1.CanaryStep `json:"steps"`
	Analysis               []v1alpha1.GateSpec   `json:"analysis,omitempty"`
}
