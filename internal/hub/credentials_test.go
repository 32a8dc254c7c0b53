package hub_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubMemberFromSecret upgrades a member the hub reaches only through a
// kubeconfig held in a Secret (Cluster spec.kubeconfigSecretRef): its
// context exists nowhere else, so the run can only succeed through the
// Secret. Before the Secret exists, a run is refused with a status that
// names it. What the Secret holds reaches no log, status, fleet or audit.
func TestHubMemberFromSecret(t *testing.T) {
	kubeconfig, _, c := upHub(t, "sec-hub")
	member := testfleet.Up(t, localfleet.Spec{Name: "sec-member", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	ctx := t.Context()
	// The member's kubeconfig, its context renamed to one only the Secret has.
	kc, err := clientcmd.LoadFromFile(member.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	kc.Contexts["from-secret"] = kc.Contexts[kc.CurrentContext]
	delete(kc.Contexts, kc.CurrentContext)
	kc.CurrentContext = "from-secret"
	secretData, err := clientcmd.Write(*kc)
	if err != nil {
		t.Fatal(err)
	}
	// Pieces of the client key, as PEM and as a kubeconfig's base64.
	var secrets []string
	for _, a := range kc.AuthInfos {
		if lines := strings.Split(string(a.ClientKeyData), "\n"); len(lines) > 2 {
			secrets = append(secrets, lines[1], base64.StdEncoding.EncodeToString(a.ClientKeyData)[40:100])
		}
	}
	if len(secrets) == 0 {
		t.Fatal("the member's kubeconfig holds no client key to watch for")
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("../../examples/exec-provider/local-fleet.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "sec-member", Namespace: "default"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderExec, Group: "all", Context: "from-secret",
			// The script finds upshift only through a variable a Secret holds.
			Exec: &v1alpha1.ExecCluster{Name: "sec-member", Command: []string{script},
				EnvSecretRefs: map[string]v1alpha1.SecretKeyRef{"UPSHIFT_BIN": {Name: "sec-member-env", Key: "bin"}}},
			KubeconfigSecretRef: &v1alpha1.SecretKeyRef{Name: "sec-member-kubeconfig"}}}); err != nil {
		t.Fatal(err)
	}
	// The member is an exec cluster: the operator allows exec.
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a", "--allow-exec")}
	newRun := func(name string) *v1alpha1.UpdateRun {
		return &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: v1alpha1.UpdateRunSpec{Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}}}}},
				Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}}}
	}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	if err := c.Create(ctx, newRun("early")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run before the Secret to be refused", replicas, func() bool {
		r, err := st.Get("early")
		return err == nil && r.Status.Phase == v1alpha1.PhaseFailed && strings.Contains(r.Status.Message, "Secret sec-member-kubeconfig, which namespace default does not hold")
	})

	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec-member-kubeconfig", Namespace: "default", Labels: map[string]string{v1alpha1.LabelMemberCredentials: "true"}}, Data: map[string][]byte{"kubeconfig": secretData}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec-member-env", Namespace: "default", Labels: map[string]string{v1alpha1.LabelMemberCredentials: "true"}}, Data: map[string][]byte{"bin": []byte(exe)}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, newRun("upgrade")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run to complete", replicas, func() bool {
		r, err := st.Get("upgrade")
		if err == nil && r.Status.Phase == v1alpha1.PhaseFailed {
			t.Fatalf("the run failed: %s\n%s", r.Status.Message, replicas[0].output())
		}
		return err == nil && r.Status.Phase == v1alpha1.PhaseCompleted
	})
	mc, err := member.Client()
	if err != nil {
		t.Fatal(err)
	}
	v, err := mc.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != toolchain.Latest().Version {
		t.Errorf("the member runs %s, want %s", v.GitVersion, toolchain.Latest().Version)
	}

	// What the Secret holds goes nowhere.
	r, _ := st.Get("upgrade")
	status, _ := json.Marshal(r.Status)
	fleetData, err := st.Fleet("upgrade")
	if err != nil {
		t.Fatal(err)
	}
	events, _ := st.Events("upgrade")
	audit, _ := json.Marshal(events)
	for what, text := range map[string]string{"the hub's output": replicas[0].output(), "the status": string(status), "the frozen fleet": string(fleetData), "the audit trail": string(audit)} {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds the member's credentials", what)
			}
		}
	}
	if !strings.Contains(string(fleetData), "kubeconfigSecretRef") || strings.Contains(string(fleetData), "hub-credentials") {
		t.Errorf("the frozen fleet should name the Secret, not a file:\n%s", fleetData)
	}
	// The variable from the Secret reached the script (the run completed)
	// and neither the frozen fleet nor the status.
	if !strings.Contains(string(fleetData), "envSecretRefs") || strings.Contains(string(fleetData), exe) || strings.Contains(string(status), exe) {
		t.Errorf("the frozen fleet should name the variable's Secret, and neither it nor the status its value:\n%s", fleetData)
	}
}
