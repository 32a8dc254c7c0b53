package hub_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubTenantBoundary: a tenant allowed to create UpdateRuns, and
// nothing else, tries every way to run code in the hub's pod (a Command
// gate in the run's gates, in a stage's gate task, in a blue-green gate),
// and gets nothing: each run is refused with the reason in its status,
// and no command ran. Paths open to those who may create Clusters and
// Secrets are closed too: an exec provider, a Secret not marked for
// upshift, a kubeconfig whose user runs an exec plugin. Nothing the
// Secrets hold reaches a status.
func TestHubTenantBoundary(t *testing.T) {
	kubeconfig, cfg, admin := upHub(t, "tenant-hub")
	ctx := t.Context()
	if err := admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "runs-only", Namespace: "default"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"upshift.dev"}, Resources: []string{"updateruns"}, Verbs: []string{"get", "list", "watch", "create"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenant-runs-only", Namespace: "default"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "runs-only"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "tenant"}}}); err != nil {
		t.Fatal(err)
	}
	tenantCfg := rest.CopyConfig(cfg)
	tenantCfg.Impersonate = rest.ImpersonationConfig{UserName: "tenant"}
	tenant, err := client.New(tenantCfg, client.Options{Scheme: hubstore.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "member", Namespace: "default"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "member"}, Group: "all"}}); err != nil {
		t.Fatal(err)
	}
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a")}
	st := &hubstore.Store{Client: admin, Namespace: "default"}
	refused := func(name, says string) {
		t.Helper()
		waitFor(t, "run "+name+" to be refused", replicas, func() bool {
			r, err := st.Get(name)
			return err == nil && r.Status.Phase == v1alpha1.PhaseFailed
		})
		r, _ := st.Get(name)
		if !strings.Contains(r.Status.Message, says) || !strings.Contains(r.Status.Message, "--allow-exec") {
			t.Errorf("run %s refused with %q, want it to say %q and name --allow-exec", name, r.Status.Message, says)
		}
		if len(r.Status.Stages) != 0 {
			t.Errorf("run %s was planned", name)
		}
		// The refusal is a Warning Event on the run too.
		waitFor(t, "a Refused Event on run "+name, replicas, func() bool {
			var evs eventsv1.EventList
			if err := admin.List(ctx, &evs, client.InNamespace("default")); err != nil {
				return false
			}
			for _, ev := range evs.Items {
				if ev.Regarding.Name == name && ev.Reason == "Refused" && ev.Type == "Warning" && strings.Contains(ev.Note, "--allow-exec") {
					return true
				}
			}
			return false
		})
	}
	marker := filepath.Join(t.TempDir(), "ran")
	touch := &v1alpha1.GateSpec{Name: "own", Type: v1alpha1.GateCommand, FailureThreshold: 1, Command: &v1alpha1.CommandGate{Command: []string{"touch", marker}}}
	stages := func() *v1alpha1.UpdateStrategySpec {
		return &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}}}}}
	}
	run := func(name string) *v1alpha1.UpdateRun {
		return &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: v1alpha1.UpdateRunSpec{Strategy: stages(),
			Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}}}
	}

	// The tenant's ways.
	if err := tenant.Get(ctx, client.ObjectKey{Namespace: "default", Name: "anything"}, &corev1.Secret{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the tenant reads Secrets: %v", err)
	}
	preflight := run("preflight-command")
	preflight.Spec.Gates.Preflight = []v1alpha1.GateSpec{*touch}
	stageTask := run("stage-command")
	stageTask.Spec.Strategy.Stages[0].AfterStageTasks = []v1alpha1.StageTask{{Type: "Gate", Name: "own", Gate: touch}}
	for _, r := range []*v1alpha1.UpdateRun{preflight, stageTask} {
		if err := tenant.Create(ctx, r); err != nil {
			t.Fatalf("the tenant creates run %s: %v", r.Name, err)
		}
	}
	refused("preflight-command", "spec.gates.preflight[0] (gate own) is a Command gate")
	refused("stage-command", "strategy.stages[0].afterStageTasks[0].gate (gate own) is a Command gate")

	// A run that names a file of the hub's pod as the gateway's admin
	// token (the pod's own ServiceAccount token, which the provider would
	// send to an address the run names) is refused.
	podToken := run("pod-token")
	podToken.Spec.Method = v1alpha1.MethodBlueGreen
	podToken.Spec.BlueGreen = &v1alpha1.BlueGreenSpec{Traffic: v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficGateway,
		Gateway: &v1alpha1.GatewayTraffic{AdminURL: "http://127.0.0.1:1", TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"}}}
	if err := tenant.Create(ctx, podToken); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run naming a file of the pod to be refused", replicas, func() bool {
		r, err := st.Get("pod-token")
		return err == nil && r.Status.Phase == v1alpha1.PhaseFailed
	})
	if r, _ := st.Get("pod-token"); !strings.Contains(r.Status.Message, "spec.blueGreen.traffic.gateway.tokenFile reads a file of the hub's pod: give tokenSecretRef") {
		t.Errorf("a gateway tokenFile on a hub: %q", r.Status.Message)
	}

	// Provider gatewayapi: a kubeconfig file would be the pod's, and a
	// kubeconfig from a Secret that reads a file of the pod (its own
	// ServiceAccount token, sent to the server the kubeconfig names) is
	// refused too.
	podFile := clientcmdapi.NewConfig()
	podFile.Clusters["edge"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	podFile.AuthInfos["edge"] = &clientcmdapi.AuthInfo{TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"}
	podFile.Contexts["edge"] = &clientcmdapi.Context{Cluster: "edge", AuthInfo: "edge"}
	podFile.CurrentContext = "edge"
	podFileData, err := clientcmd.Write(*podFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "edge-kubeconfig", Namespace: "default", Labels: map[string]string{v1alpha1.LabelTrafficCredentials: "true"}},
		Data: map[string][]byte{"kubeconfig": podFileData}}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		ga   v1alpha1.GatewayAPITraffic
		says string
	}{
		"routes-file":      {v1alpha1.GatewayAPITraffic{Kubeconfig: "/root/.kube/config", ParentRef: v1alpha1.GatewayParentRef{Name: "front"}}, "spec.blueGreen.traffic.gatewayAPI.kubeconfig is a file of the hub's pod: give kubeconfigSecretRef"},
		"routes-identity":  {v1alpha1.GatewayAPITraffic{ParentRef: v1alpha1.GatewayParentRef{Name: "front"}}, "spec.blueGreen.traffic.gatewayAPI needs kubeconfigSecretRef on a hub"},
		"routes-pod-token": {v1alpha1.GatewayAPITraffic{KubeconfigSecretRef: &v1alpha1.SecretKeyRef{Name: "edge-kubeconfig"}, ParentRef: v1alpha1.GatewayParentRef{Name: "front"}}, "reads files of the hub's pod (user edge tokenFile /var/run/secrets/kubernetes.io/serviceaccount/token)"},
	} {
		r := run(name)
		r.Spec.Method = v1alpha1.MethodBlueGreen
		ga := tc.ga
		r.Spec.BlueGreen = &v1alpha1.BlueGreenSpec{Traffic: v1alpha1.TrafficSpec{Provider: v1alpha1.TrafficGatewayAPI, GatewayAPI: &ga,
			Hosts: v1alpha1.HostNames{Public: "shop.example.com", Cluster: "aks.example.com", Blue: "aks-blue.example.com", Green: "aks-green.example.com"}}}
		if err := tenant.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "run "+name+" to be refused", replicas, func() bool {
			r, err := st.Get(name)
			return err == nil && r.Status.Phase == v1alpha1.PhaseFailed
		})
		if r, _ := st.Get(name); !strings.Contains(r.Status.Message, tc.says) {
			t.Errorf("run %s refused with %q, want it to say %q", name, r.Status.Message, tc.says)
		}
	}

	// The ways of those who may write Clusters and Secrets.
	if err := admin.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "scripted", Namespace: "default"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderExec, Group: "all", Exec: &v1alpha1.ExecCluster{Name: "scripted", Command: []string{"touch", marker}}}}); err != nil {
		t.Fatal(err)
	}
	if err := tenant.Create(ctx, run("exec-provider")); err != nil {
		t.Fatal(err)
	}
	refused("exec-provider", "Cluster scripted uses the exec provider")
	if err := admin.Delete(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "scripted", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}

	const token = "s3cr3t-token-of-the-member-0123456789"
	plugin := clientcmdapi.NewConfig()
	plugin.Clusters["m"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	plugin.AuthInfos["m"] = &clientcmdapi.AuthInfo{Token: token, Exec: &clientcmdapi.ExecConfig{Command: "touch", Args: []string{marker}, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}}
	plugin.Contexts["m"] = &clientcmdapi.Context{Cluster: "m", AuthInfo: "m"}
	plugin.CurrentContext = "m"
	data, err := clientcmd.Write(*plugin)
	if err != nil {
		t.Fatal(err)
	}
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses", Namespace: "default"}, Data: map[string][]byte{"kubeconfig": data}}
	if err := admin.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	member := &v1alpha1.Cluster{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "default", Name: "member"}, member); err != nil {
		t.Fatal(err)
	}
	member.Spec.KubeconfigSecretRef = &v1alpha1.SecretKeyRef{Name: "someone-elses"}
	if err := admin.Update(ctx, member); err != nil {
		t.Fatal(err)
	}
	if err := tenant.Create(ctx, run("unmarked-secret")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run over an unmarked Secret to be refused", replicas, func() bool {
		r, err := st.Get("unmarked-secret")
		return err == nil && r.Status.Phase == v1alpha1.PhaseFailed
	})
	if r, _ := st.Get("unmarked-secret"); !strings.Contains(r.Status.Message, "Secret someone-elses, which is not marked for upshift: label it") {
		t.Errorf("a Secret not marked for upshift: %q", r.Status.Message)
	}
	other.Labels = map[string]string{v1alpha1.LabelMemberCredentials: "true"}
	if err := admin.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := tenant.Create(ctx, run("exec-plugin")); err != nil {
		t.Fatal(err)
	}
	refused("exec-plugin", "user m runs exec plugin touch")
	other.Data["kubeconfig"] = podFileData
	if err := admin.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := tenant.Create(ctx, run("member-pod-file")); err != nil {
		t.Fatal(err)
	}
	refused("member-pod-file", "reads files of the hub's pod (user edge tokenFile /var/run/secrets/kubernetes.io/serviceaccount/token)")

	if _, err := os.Stat(marker); err == nil {
		t.Error("a command of a refused run ran in the hub")
	}
	var runs v1alpha1.UpdateRunList
	if err := admin.List(ctx, &runs, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs.Items {
		if strings.Contains(r.Status.Message, token) {
			t.Errorf("run %s's status holds the member's token", r.Name)
		}
	}
	if strings.Contains(replicas[0].output(), token) {
		t.Error("the hub's log holds the member's token")
	}
}
