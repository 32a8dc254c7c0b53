package hub

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
)

// TestExecPathsFindsGatesAnywhere: a Command gate is found wherever the
// API holds a GateSpec (run gates, stage tasks, blue-green validation and
// post-switch, canary analysis), and only Command gates are.
func TestExecPathsFindsGatesAnywhere(t *testing.T) {
	cmd := v1alpha1.GateSpec{Name: "x", Type: v1alpha1.GateCommand, Command: &v1alpha1.CommandGate{Command: []string{"id"}}}
	http := v1alpha1.GateSpec{Name: "h", Type: v1alpha1.GateHTTP, HTTP: &v1alpha1.HTTPGate{URL: "http://example.invalid"}}
	spec := &v1alpha1.UpdateRunSpec{
		Gates:     v1alpha1.RunGates{PostUpgrade: []v1alpha1.GateSpec{http, cmd}},
		BlueGreen: &v1alpha1.BlueGreenSpec{Validation: v1alpha1.BlueGreenValidation{Gates: []v1alpha1.GateSpec{cmd}}, PostSwitch: v1alpha1.PostSwitchSpec{Gates: []v1alpha1.GateSpec{cmd}}},
		Canary:    &v1alpha1.CanarySpec{Analysis: []v1alpha1.GateSpec{http, cmd}},
	}
	strategy := &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "s", AfterStageTasks: []v1alpha1.StageTask{{Type: "Gate", Gate: &cmd}}}}}
	got := execPaths(spec, strategy, []v1alpha1.Cluster{{Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal}},
		{ObjectMeta: metav1.ObjectMeta{Name: "aks1"}, Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderAKS, AKS: &v1alpha1.AKSCluster{Name: "aks1", NodeImageFeed: "/var/run/secrets/kubernetes.io/serviceaccount/token"}}}})
	want := []string{
		"Cluster aks1 reads spec.aks.nodeImageFeed, a file of the controller's pod",
		"spec.blueGreen.validation.gates[0] (gate x) is a Command gate",
		"spec.blueGreen.postSwitch.gates[0] (gate x) is a Command gate",
		"spec.canary.analysis[1] (gate x) is a Command gate",
		"spec.gates.postUpgrade[1] (gate x) is a Command gate",
		"strategy.stages[0].afterStageTasks[0].gate (gate x) is a Command gate",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("execPaths:\n got %q\nwant %q", got, want)
	}
}

// TestScrubber: a secret is taken out as it is, as a kubeconfig's base64
// of it, and line by line for a PEM key; short strings are left alone.
func TestScrubber(t *testing.T) {
	var s scrubber
	key := "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKf7lineoneofthekey\nAoGCCqGSM49linetwoofthekey\n-----END EC PRIVATE KEY-----\n"
	s.add("tok3n-of-the-member", key, "short")
	for in, want := range map[string]string{
		"Authorization: Bearer tok3n-of-the-member":                          "Authorization: Bearer [redacted]",
		"client-key-data: " + base64.StdEncoding.EncodeToString([]byte(key)): "client-key-data: [redacted]",
		"half a key: AoGCCqGSM49linetwoofthekey":                             "half a key: [redacted]",
		"a short word stays":                                                 "a short word stays",
	} {
		if got := s.text(in); got != want {
			t.Errorf("text(%q) = %q, want %q", in, got, want)
		}
	}
	if strings.Contains(s.text(key), "lineone") {
		t.Error("the key survives whole")
	}
}

// TestPodFilesOfHAProxy: a hub refuses an HAProxy configuration file or a
// unix socket of its own pod, and takes a TCP runtime API.
func TestPodFilesOfHAProxy(t *testing.T) {
	spec := func(h v1alpha1.HAProxyTraffic) *v1alpha1.UpdateRunSpec {
		return &v1alpha1.UpdateRunSpec{BlueGreen: &v1alpha1.BlueGreenSpec{Traffic: v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficHAProxy, HAProxy: &h}}}
	}
	if got := podFiles(spec(v1alpha1.HAProxyTraffic{RuntimeAPI: "haproxy.edge:9999"}), false); len(got) != 0 {
		t.Errorf("a TCP runtime API was refused: %q", got)
	}
	got := podFiles(spec(v1alpha1.HAProxyTraffic{RuntimeAPI: "/run/haproxy/admin.sock", ConfigFile: "/etc/haproxy/haproxy.cfg"}), true)
	if len(got) != 2 || !strings.Contains(got[0], "haproxy.configFile is a file of the hub's pod") || !strings.Contains(got[1], "give HAProxy's runtime API as host:port") {
		t.Errorf("podFiles = %q", got)
	}
}
