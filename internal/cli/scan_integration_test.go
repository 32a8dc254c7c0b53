package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/cli"
	upcrds "upshift.dev/upshift/internal/crds"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/scan/apis"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

// TestScanLiveCluster seeds a real cluster with what the scans must find —
// a budget that blocks drains, a single replica without probes, a naked pod,
// a Helm release rendering a removed API, an object whose last-applied
// annotation carries a removed API, and one whose annotation is stale — and
// runs both scans through the CLI.
func TestScanLiveCluster(t *testing.T) {
	ctx := t.Context()
	c := testfleet.Up(t, localfleet.Spec{Name: "scan", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	seed(t, ctx, client)

	t.Run("apis", func(t *testing.T) {
		code, out, stderr := run(t, "scan", "apis", "--target-version", "1.34", "--kubeconfig", c.KubeconfigPath(), "-o", "json")
		if code != report.ExitRemoved {
			t.Errorf("exit code %d, want %d (stderr %s)", code, report.ExitRemoved, stderr)
		}
		var rep report.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, out)
		}
		find := func(kind, name string) []report.Finding {
			var got []report.Finding
			for _, f := range rep.Findings {
				if f.Kind == kind && f.Name == name {
					got = append(got, f)
				}
			}
			return got
		}
		if f := find("Ingress", "legacy"); len(f) != 1 || f[0].Check != apis.CheckRemoved || !f[0].BlocksTarget || f[0].APIVersion != "extensions/v1beta1" || !strings.Contains(f[0].Source, "last-applied-configuration") {
			t.Errorf("legacy ingress: %+v", f)
		}
		if f := find("Ingress", "moved"); len(f) != 1 || f[0].BlocksTarget || !strings.HasPrefix(f[0].Confidence, apis.ConfidenceLow) || !strings.Contains(f[0].Confidence, "argocd") {
			t.Errorf("stale annotation: %+v", f)
		}
		if f := find("CronJob", "nightly"); len(f) != 1 || !f[0].BlocksTarget || !strings.Contains(f[0].Source, "helm release shop/shop revision 2 (chart shop-2.0.0)") {
			t.Errorf("helm release: %+v", f)
		}
		if f := find("PodDisruptionBudget", "old-budget"); len(f) != 0 {
			t.Errorf("a superseded Helm revision was reported: %+v", f)
		}
		if f := find("componentstatuses", "(requests)"); len(f) != 1 || !strings.Contains(f[0].Source, "apiserver_requested_deprecated_apis") {
			t.Errorf("metric: %+v", f)
		}
		if rep.Summary.Blocking != 2 {
			t.Errorf("blocking = %d, want 2 (legacy ingress, helm cronjob): %+v", rep.Summary.Blocking, rep.Findings)
		}
	})

	t.Run("readiness", func(t *testing.T) {
		code, out, stderr := run(t, "scan", "readiness", "--kubeconfig", c.KubeconfigPath(), "--target-version", "1.34", "-o", "json")
		if code != report.ExitReadiness {
			t.Errorf("exit code %d, want %d (stderr %s)", code, report.ExitReadiness, stderr)
		}
		var rep report.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, out)
		}
		checks := map[string][]string{}
		for _, f := range rep.Findings {
			checks[f.Check] = append(checks[f.Check], f.Namespace+"/"+f.Name)
		}
		for check, want := range map[string]string{
			"pdb-blocks-drain":        "shop/lonely",
			"single-replica":          "shop/lonely",
			"missing-readiness-probe": "shop/lonely",
			"naked-pod":               "shop/debug",
		} {
			if !contains(checks[check], want) {
				t.Errorf("%s findings %v lack %s", check, checks[check], want)
			}
		}
		for _, objs := range checks {
			for _, o := range objs {
				if strings.HasPrefix(o, "kube-system/") {
					t.Errorf("system namespace audited: %s", o)
				}
			}
		}
		if code, _, _ := run(t, "scan", "readiness", "--kubeconfig", c.KubeconfigPath(), "--fail-on", "none"); code != 0 {
			t.Errorf("--fail-on none exited %d", code)
		}
	})

	t.Run("policyreport", func(t *testing.T) { testPolicyReport(t, c) })

	t.Run("fleet file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "fleet.yaml")
		fleetFile := "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: shop-prod}\nspec: {provider: local, local: {name: scan}}\n"
		if err := os.WriteFile(path, []byte(fleetFile), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, stderr := run(t, "scan", "apis", "--target-version", "1.34", "--fleet", path, "--home", testfleet.Fleet(t).Home)
		if code != report.ExitRemoved || !strings.Contains(out, "shop-prod: helm release shop/shop revision 2") {
			t.Errorf("fleet scan: exit %d\n%s\n%s", code, out, stderr)
		}
		if err := os.WriteFile(path, []byte(fleetFile+"---\napiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: ghost}\nspec: {provider: local, local: {name: ghost}}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, stderr = run(t, "fleet", "--fleet", path, "--home", testfleet.Fleet(t).Home, "-o", "json")
		var observed []v1alpha1.Cluster
		if err := json.Unmarshal([]byte(out), &observed); code != 0 || err != nil || len(observed) != 2 ||
			observed[0].Status.KubernetesVersion != toolchain.Previous().Version || len(observed[0].Status.NodePools) != 1 || observed[0].Status.NodePools[0].Count != 2 ||
			observed[1].Status.Conditions[0].Reason != v1alpha1.ReasonUnreachable {
			t.Errorf("fleet status: exit %d, %v\n%s\n%s", code, err, out, stderr)
		}
		// A missing cluster is reported; the others are still scanned.
		code, out, stderr = run(t, "scan", "apis", "--target-version", "1.34", "--fleet", path, "--home", testfleet.Fleet(t).Home)
		if code != report.ExitRemoved || !strings.Contains(out, "could not read: cluster ghost") || !strings.Contains(out, "shop-prod: helm release") {
			t.Errorf("fleet with a missing cluster: exit %d\n%s\n%s", code, out, stderr)
		}
	})

	t.Run("unreachable cluster", func(t *testing.T) {
		code, _, stderr := run(t, "scan", "readiness", "--kubeconfig", "/nonexistent/kubeconfig")
		if code != cli.ExitUsage || !strings.Contains(stderr, "kubeconfig") {
			t.Errorf("missing kubeconfig: exit %d, %s", code, stderr)
		}
	})
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), args, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func seed(t *testing.T, ctx context.Context, client kubernetes.Interface) {
	t.Helper()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}))
	labels := map[string]string{"app": "lonely"}
	must(client.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "lonely"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}}},
		},
	}, metav1.CreateOptions{}))
	must(client.PolicyV1().PodDisruptionBudgets("shop").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "lonely"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}, metav1.CreateOptions{}))
	must(client.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "debug"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "sh", Image: "busybox"}}},
	}, metav1.CreateOptions{}))

	ingress := func(name string) *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"extensions/v1beta1","kind":"Ingress","metadata":{"name":"` + name + `","namespace":"shop"}}`,
		}}, Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
	}
	must(client.NetworkingV1().Ingresses("shop").Create(ctx, ingress("legacy"), metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}))
	must(client.NetworkingV1().Ingresses("shop").Create(ctx, ingress("moved"), metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}))
	// managedFields times have one-second resolution: write again later,
	// as another manager, with a served version.
	time.Sleep(1100 * time.Millisecond)
	moved, err := client.NetworkingV1().Ingresses("shop").Get(ctx, "moved", metav1.GetOptions{})
	must(moved, err)
	moved.Labels = map[string]string{"synced-by": "argocd"}
	must(client.NetworkingV1().Ingresses("shop").Update(ctx, moved, metav1.UpdateOptions{FieldManager: "argocd-controller"}))

	release := func(revision int, status, manifest string) {
		data, err := apis.EncodeHelmRelease("shop", "shop", revision, "shop", strconv.Itoa(revision)+".0.0", manifest)
		must(nil, err)
		must(client.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.shop.v" + strconv.Itoa(revision), Labels: map[string]string{"owner": "helm", "name": "shop", "status": status, "version": strconv.Itoa(revision)}},
			Type:       "helm.sh/release.v1",
			Data:       map[string][]byte{"release": data},
		}, metav1.CreateOptions{}))
	}
	release(1, "superseded", "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: old-budget\n")
	release(2, "deployed", "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: nightly\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n")

	// A client calling a deprecated API, as the API server's metric records.
	_, err = client.CoreV1().ComponentStatuses().List(ctx, metav1.ListOptions{})
	must(nil, err)
	// Wait for the pods to be scheduled and run on kwok nodes.
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		pods, err := client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
		running := 0
		if err == nil {
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
		}
		if running == 2 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("seeded pods did not run")
}

// testPolicyReport: -o policyreport writes what the policy working
// group's published CRDs (wgpolicyk8s.io/v1alpha2, in
// internal/scan/report/testdata) accept on a real API server with strict
// field validation: the live cluster's findings in a PolicyReport of
// their namespace, a file's unnamespaced object and an unreadable input
// in the ClusterPolicyReport, each result failing or warning as the
// finding's severity says.
func testPolicyReport(t *testing.T, c *localfleet.Cluster) {
	ctx := t.Context()
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, name := range []string{"policyreports", "clusterpolicyreports"} {
		data, err := os.ReadFile(filepath.Join("..", "scan", "report", "testdata", "wgpolicyk8s.io_"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		crds = append(crds, crd)
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := upcrds.Apply(ctx, cfg, crds, time.Minute); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(file, []byte("apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: ClusterRole\nmetadata: {name: old-reader}\nrules: []\n---\nkind: Service\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "scan", "apis", "--target-version", "1.34", "--kubeconfig", c.KubeconfigPath(), "-f", file, "-o", "policyreport")
	if code != report.ExitRemoved {
		t.Errorf("exit %d, want %d (stderr %s)", code, report.ExitRemoved, stderr)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*unstructured.Unstructured{}
	for _, doc := range strings.Split(out, "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		gvr := schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: strings.ToLower(obj.GetKind()) + "s"}
		var api dynamic.ResourceInterface = dyn.Resource(gvr)
		if ns := obj.GetNamespace(); ns != "" {
			api = dyn.Resource(gvr).Namespace(ns)
		}
		_ = api.Delete(ctx, obj.GetName(), metav1.DeleteOptions{})
		created, err := api.Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"})
		if err != nil {
			t.Fatalf("the API server refuses %s %s/%s: %v\n%s", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err, doc)
		}
		got[obj.GetKind()+" "+obj.GetNamespace()] = created
	}
	results := func(key string) []string {
		var out []string
		rs, _, _ := unstructured.NestedSlice(got[key].Object, "results")
		for _, r := range rs {
			m := r.(map[string]any)
			line := m["policy"].(string) + " " + m["result"].(string)
			if res, ok := m["resources"].([]any); ok {
				line += " " + res[0].(map[string]any)["kind"].(string) + "/" + res[0].(map[string]any)["name"].(string)
			}
			out = append(out, line)
		}
		return out
	}
	if shop := results("PolicyReport shop"); !contains(shop, "removed-api fail Ingress/legacy") || !contains(shop, "removed-api fail CronJob/nightly") {
		t.Errorf("PolicyReport shop: %q; want the legacy Ingress and the Helm release's CronJob failing", shop)
	}
	if fail, _, _ := unstructured.NestedInt64(got["PolicyReport shop"].Object, "summary", "fail"); fail < 2 {
		t.Errorf("PolicyReport shop counts %d failures", fail)
	}
	if cluster := results("ClusterPolicyReport "); !contains(cluster, "removed-api fail ClusterRole/old-reader") || !contains(cluster, "readable-input error") {
		t.Errorf("ClusterPolicyReport: %q; want the ClusterRole failing and the unreadable Service as an error", cluster)
	}
}
