package hub_test

import (
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// helmModule is the Helm the Makefile's chart target runs (keep in step).
const helmModule = "helm.sh/helm/v4/cmd/helm@v4.3.2"

const chartNamespace = "upshift-system"

func helm(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run", helmModule}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the
// chart's ServiceAccount with a token the API server issued for it: what
// the hub's pod would hold.
func serviceAccountKubeconfig(t *testing.T, admin string, cs kubernetes.Interface, sa string) (path, token string) {
	t.Helper()
	tok, err := cs.CoreV1().ServiceAccounts(chartNamespace).CreateToken(t.Context(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{sa: {Token: tok.Status.Token}}
	cfg.Contexts = map[string]*clientcmdapi.Context{sa: {Cluster: ctx.Cluster, AuthInfo: sa, Namespace: chartNamespace}}
	cfg.CurrentContext = sa
	path = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path, tok.Status.Token
}

// TestHelmChart installs the chart on a real hub with Helm and runs the
// controller from this binary, as a local process, with the Deployment's
// own arguments and the chart's ServiceAccount token (the local fleet has
// no container runtime to run its image). The least-privilege Role must
// carry a run through: initialized, its approval asked for as an
// ApprovalRequest, approved by a user bound to the approver Role (the hub
// itself may not approve), completed; the probes and the metrics Service's
// port answer.
func TestHelmChart(t *testing.T) {
	hubCluster := testfleet.Up(t, localfleet.Spec{Name: "chart-hub", KubernetesVersion: toolchain.Latest().Minor})
	testfleet.Up(t, localfleet.Spec{Name: "chart-member", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	ctx := t.Context()
	admin := hubCluster.KubeconfigPath()

	out := helm(t, "install", "upshift", "charts/upshift", "--kubeconfig", admin, "--namespace", chartNamespace, "--create-namespace", "--set", "leaseDuration=4s")
	if !strings.Contains(out, "STATUS: deployed") {
		t.Fatalf("helm install:\n%s", out)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", admin)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	c, err := client.New(cfg, client.Options{Scheme: hubstore.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := cs.AppsV1().Deployments(chartNamespace).Get(ctx, "upshift", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 2 {
		t.Errorf("the Deployment runs %d replicas, want 2 (one leads, one stands by)", *dep.Spec.Replicas)
	}
	if _, err := cs.PolicyV1().PodDisruptionBudgets(chartNamespace).Get(ctx, "upshift", metav1.GetOptions{}); err != nil {
		t.Errorf("the chart's PodDisruptionBudget: %v", err)
	}
	svc, err := cs.CoreV1().Services(chartNamespace).Get(ctx, "upshift-metrics", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The container's arguments, run here: the pod's name, this machine's
	// ports and the test fleet's home stand in for the pod's.
	probes, metricsAddr := testfleet.LoopbackAddr(t), testfleet.LoopbackAddr(t)
	var args []string
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		switch {
		case strings.HasPrefix(a, "--identity="):
			a = "--identity=pod-a"
		case strings.HasPrefix(a, "--health-probe-addr="):
			a = "--health-probe-addr=" + probes
		case strings.HasPrefix(a, "--metrics-listen="):
			if want := ":" + svc.Spec.Ports[0].TargetPort.String(); want != ":metrics" && a != "--metrics-listen="+want {
				t.Errorf("the metrics Service targets %s, the container serves %s", want, a)
			}
			a = "--metrics-listen=" + metricsAddr
		case strings.HasPrefix(a, "--home="):
			a = "--home=" + testfleet.Fleet(t).Home
		}
		args = append(args, a)
	}
	saKubeconfig, saToken := serviceAccountKubeconfig(t, admin, cs, dep.Spec.Template.Spec.ServiceAccountName)
	args = append(args, "--kubeconfig", saKubeconfig)
	var mu sync.Mutex
	r := &replica{cmd: testfleet.CLI(args...), out: &bytes.Buffer{}, mu: &mu}
	r.cmd.Stdout, r.cmd.Stderr = lockedWriter{r.mu, r.out}, lockedWriter{r.mu, r.out}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	replicas := []*replica{r}
	waitFor(t, "the replica to be ready and lead", replicas, func() bool {
		resp, err := http.Get("http://" + probes + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && holder(c, t, chartNamespace, "upshift-hub") == "pod-a"
	})

	objects := []client.Object{
		&v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "chart-member", Namespace: chartNamespace},
			Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "chart-member"}, Group: "all"}},
		&v1alpha1.UpdateStrategy{ObjectMeta: metav1.ObjectMeta{Name: "rings", Namespace: chartNamespace},
			Spec: v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}},
				BeforeStageTasks: []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval, Name: "go"}}}}}},
		&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "images", Namespace: chartNamespace},
			Spec: v1alpha1.UpdateRunSpec{StrategyRef: &v1alpha1.StrategyRef{Name: "rings"},
				Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}}}},
		// Who may approve: alice, through the chart's approver Role.
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-approves", Namespace: chartNamespace},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "upshift-approver"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice"}}},
	}
	for _, o := range objects {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	// The hub asks for the approval; it lists as an ApprovalRequest.
	name := hubstore.RequestName("images", "stage/all")
	ar := &v1alpha1.ApprovalRequest{}
	waitFor(t, "the hub to ask for the stage's approval", replicas, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: name}, ar) == nil
	})
	if ar.Spec.UpdateRun != "images" || ar.Spec.Key != "stage/all" || !strings.Contains(ar.Spec.Message, "approve stage all") {
		t.Errorf("approval request: %+v", ar.Spec)
	}
	approve := func(as client.Client) error {
		cur := &v1alpha1.ApprovalRequest{}
		if err := as.Get(ctx, client.ObjectKeyFromObject(ar), cur); err != nil {
			return err
		}
		meta.SetStatusCondition(&cur.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionApproved, Status: metav1.ConditionTrue, Reason: "Approved", Message: "go"})
		cur.Status.ApprovedBy = "alice"
		return as.Status().Update(ctx, cur)
	}
	saCfg, err := clientcmd.BuildConfigFromFlags("", saKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	asHub, _ := client.New(saCfg, client.Options{Scheme: hubstore.Scheme()})
	if err := approve(asHub); !apierrors.IsForbidden(err) {
		t.Errorf("the hub's ServiceAccount approving a run: %v, want forbidden", err)
	}
	aliceCfg := rest.CopyConfig(cfg)
	aliceCfg.Impersonate = rest.ImpersonationConfig{UserName: "alice"}
	asAlice, _ := client.New(aliceCfg, client.Options{Scheme: hubstore.Scheme()})
	if err := approve(asAlice); err != nil {
		t.Fatalf("alice, bound to upshift-approver, approving: %v", err)
	}
	st := &hubstore.Store{Client: c, Namespace: chartNamespace}
	waitFor(t, "the run to complete", replicas, func() bool {
		run, err := st.Get("images")
		return err == nil && run.Status.Phase == v1alpha1.PhaseCompleted
	})

	// Its milestones are Events on it (kubectl describe ur images), made
	// with the chart's Role.
	want := []string{v1alpha1.NotifyRunStarted, v1alpha1.NotifyApprovalNeeded, v1alpha1.NotifyStageCompleted, v1alpha1.NotifyRunCompleted}
	var reasons map[string]string
	waitFor(t, "the run's Events", replicas, func() bool {
		evs, err := cs.EventsV1().Events(chartNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		reasons = map[string]string{}
		for _, ev := range evs.Items {
			if ev.Regarding.Kind == "UpdateRun" && ev.Regarding.Name == "images" {
				reasons[ev.Reason] = ev.Note
			}
		}
		return len(reasons) >= len(want)
	})
	for _, reason := range want {
		if _, ok := reasons[reason]; !ok {
			t.Errorf("no %s Event on run images; its Events: %v", reason, reasons)
		}
	}
	if note := reasons[v1alpha1.NotifyApprovalNeeded]; !strings.Contains(note, "upshift approve") {
		t.Errorf("the %s Event does not say how to approve: %q", v1alpha1.NotifyApprovalNeeded, note)
	}

	m := testfleet.Scrape(t, "http://"+metricsAddr+"/metrics", "")
	if m.Sum("upshift_run_phase", map[string]string{"run": "images", "phase": "Completed"}) != 1 {
		t.Errorf("metrics: the leader does not report run images as Completed")
	}
	if m.Sum("controller_runtime_reconcile_total", map[string]string{"result": "success"}) == 0 {
		t.Errorf("metrics: no successful reconcile reported")
	}
	if strings.Contains(strings.ToLower(r.output()), "forbidden") {
		t.Errorf("the hub was refused something its Role should grant:\n%s", r.output())
	}
	if strings.Contains(r.output(), saToken) {
		t.Error("the replica logged its ServiceAccount token")
	}
}
