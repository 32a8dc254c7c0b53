package bluegreen_test

import (
	"testing"

	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/methods/bluegreen"
)

// FuzzBlueGreenConfig: no blue-green configuration (the file given to
// `upshift bluegreen -f`) panics its strict parse or its validation.
func FuzzBlueGreenConfig(f *testing.F) {
	f.Add([]byte("traffic:\n  provider: gateway\n  gateway: {adminURL: 'http://127.0.0.1:1', tokenFile: token}\n  hosts: {public: a.example, cluster: b.example, blue: c.example, green: d.example}\n"))
	f.Add([]byte("traffic: {provider: dns, dns: {server: x}, hosts: {public: '{cluster}', cluster: '{cluster}'}}\nsync: {source: Manifests}\nfreeze: {serviceAccounts: [nope]}\n"))
	f.Add([]byte("postSwitch: {window: -1s, maxErrorRatePercent: 101, gates: [{type: Nope}]}\nvalidation: {loadComparison: {requests: -1}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var bg v1alpha1.BlueGreenSpec
		if err := yaml.UnmarshalStrict(data, &bg); err != nil {
			return
		}
		run := &v1alpha1.UpdateRun{Spec: v1alpha1.UpdateRunSpec{Method: v1alpha1.MethodBlueGreen, BlueGreen: &bg,
			Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: "1.34"}}}
		_ = bluegreen.Method{}.Validate(run)
		_ = bluegreen.Method{}.ValidateFleet(run, 3)
	})
}
