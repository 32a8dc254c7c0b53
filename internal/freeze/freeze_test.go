package freeze_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/internal/freeze"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

// TestFreeze checks that a freeze denies the deployer's writes with a
// message naming the run, leaves other identities alone, and is gone after
// it is lifted.
func TestFreeze(t *testing.T) {
	ctx := t.Context()
	c := testfleet.Up(t, localfleet.Spec{Name: "frozen", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	cfg, err := c.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	admin := kubernetes.NewForConfigOrDie(cfg)
	// Two service accounts allowed to deploy into "shop".
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"deployer", "operator"} {
		if _, err := admin.RbacV1().RoleBindings("shop").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: sa},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "edit"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "ci", Name: sa}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	as := func(sa string) kubernetes.Interface {
		c := rest.CopyConfig(cfg)
		c.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:ci:" + sa}
		return kubernetes.NewForConfigOrDie(c)
	}
	write := func(client kubernetes.Interface, name string) error {
		_, err := client.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	}
	if err := write(as("deployer"), "before"); err != nil {
		t.Fatalf("the deployer cannot write before the freeze: %v", err)
	}

	who := freeze.Identities{ServiceAccounts: []string{"ci/deployer"}, Groups: []string{"release-bots"}}
	if err := freeze.Apply(ctx, cfg, "bg-2026-11", who); err != nil {
		t.Fatal(err)
	}
	if err := freeze.Apply(ctx, cfg, "bg-2026-11", who); err != nil {
		t.Fatalf("applying the same freeze again: %v", err)
	}
	err = write(as("deployer"), "during")
	if err == nil || !strings.Contains(err.Error(), "frozen by upshift run bg-2026-11") {
		t.Errorf("the deployer's write during the freeze: %v", err)
	}
	bot := rest.CopyConfig(cfg)
	bot.Impersonate = rest.ImpersonationConfig{UserName: "bot-7", Groups: []string{"release-bots", "system:masters"}}
	if err := write(kubernetes.NewForConfigOrDie(bot), "bot"); err == nil || !strings.Contains(err.Error(), "bg-2026-11") {
		t.Errorf("a frozen group's write: %v", err)
	}
	if err := write(as("operator"), "operator"); err != nil {
		t.Errorf("another identity was frozen too: %v", err)
	}
	if err := write(admin, "admin"); err != nil {
		t.Errorf("the admin was frozen too: %v", err)
	}
	if runs, err := freeze.Active(ctx, admin); err != nil || len(runs) != 1 || runs[0] != "bg-2026-11" {
		t.Errorf("active freezes: %v, %v", runs, err)
	}

	if err := freeze.Lift(ctx, cfg, "bg-2026-11", who); err != nil {
		t.Fatal(err)
	}
	if err := write(as("deployer"), "after"); err != nil {
		t.Errorf("the deployer cannot write after the freeze: %v", err)
	}
	if runs, _ := freeze.Active(ctx, admin); len(runs) != 0 {
		t.Errorf("freezes left behind: %v", runs)
	}
	if _, err := admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, "upshift-freeze-bg-2026-11", metav1.GetOptions{}); err == nil {
		t.Error("the binding is still there")
	}
	if err := freeze.Apply(ctx, cfg, "x", freeze.Identities{}); err == nil {
		t.Error("a freeze of nobody was accepted")
	}
}
