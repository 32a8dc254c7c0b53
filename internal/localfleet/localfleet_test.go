package localfleet_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodes"
	"upshift.dev/upshift/internal/procs"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

var (
	lower  = toolchain.Previous()
	higher = toolchain.Latest()
)

// TestClusterLifecycle walks one cluster through what users rely on: up
// with node pools, workloads on kwok nodes, the ingress stand-in following
// endpoints, an in-place control-plane upgrade that keeps every object,
// and a down that leaves no process behind.
func TestClusterLifecycle(t *testing.T) {
	ctx := t.Context()
	fleet := testfleet.Fleet(t)
	c, err := fleet.Up(ctx, localfleet.Spec{
		Name: "life", KubernetesVersion: lower.Minor,
		NodePools: []localfleet.PoolSpec{{Name: "system", Count: 2}, {Name: "user", Count: 3}},
		NodeImage: "ubuntu-2204-2025.01",
	})
	if err != nil {
		t.Fatal(err)
	}
	downed := false
	t.Cleanup(func() {
		if !downed {
			_ = fleet.Down("life")
		}
	})
	client := mustClient(t, c)

	t.Run("up is ready with its node pools", func(t *testing.T) {
		v, err := client.Discovery().ServerVersion()
		if err != nil || v.GitVersion != lower.Version {
			t.Fatalf("/version = %v, %v; want %s", v, err, lower.Version)
		}
		nodeList, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pools := map[string]int{}
		for _, n := range nodeList.Items {
			if !nodes.Ready(&n) {
				t.Errorf("node %s is not Ready", n.Name)
			}
			if n.Status.NodeInfo.KubeletVersion != lower.Version || n.Labels[localfleet.LabelKubernetesVersion] != lower.Version {
				t.Errorf("node %s: kubelet %s, label %s; want %s", n.Name, n.Status.NodeInfo.KubeletVersion, n.Labels[localfleet.LabelKubernetesVersion], lower.Version)
			}
			if n.Labels[localfleet.LabelNodeImage] != "ubuntu-2204-2025.01" {
				t.Errorf("node %s: image label %q", n.Name, n.Labels[localfleet.LabelNodeImage])
			}
			pools[n.Labels[localfleet.LabelNodePool]]++
		}
		if pools["system"] != 2 || pools["user"] != 3 || len(pools) != 2 {
			t.Errorf("pools = %v, want system=2 user=3", pools)
		}
		for _, f := range []string{"kubeconfig", "pki/ca.key", "pki/sa.key"} {
			st, err := os.Stat(c.Dir() + "/" + f)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, %v; want 0600", f, st.Mode().Perm(), err)
			}
		}
		if st, err := os.Stat(c.Dir()); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("state folder mode %v, %v; want 0700", st.Mode().Perm(), err)
		}
	})

	app := sampleapp.App{Namespace: "shop", Name: "web", Host: "web.life.example", Replicas: 3, MinAvailable: 2}
	t.Run("pods are scheduled onto kwok nodes and run", func(t *testing.T) {
		if err := app.Deploy(ctx, client); err != nil {
			t.Fatal(err)
		}
		if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		pods, err := client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
				t.Errorf("pod %s: node %q phase %s", p.Name, p.Spec.NodeName, p.Status.Phase)
			}
		}
	})

	t.Run("ingress answers while the service has ready endpoints", func(t *testing.T) {
		a, err := ingress.WaitServed(ctx, c.IngressURL(), app.Host, 3, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if a.Cluster != "life" || a.Service != "shop/web" || a.KubernetesVersion != lower.Version || a.ReadyEndpoints != 3 {
			t.Errorf("answer = %+v", a)
		}
		scale(t, client, app, 0)
		a = waitIngress(t, c, app.Host, http.StatusServiceUnavailable)
		if a.ReadyEndpoints != 0 {
			t.Errorf("answer after scaling to zero = %+v", a)
		}
		if a := get(t, c, "unknown.example"); a.code != http.StatusNotFound {
			t.Errorf("unknown host answered %d", a.code)
		}
		scale(t, client, app, 3)
		waitIngress(t, c, app.Host, http.StatusOK)
	})

	t.Run("up again is a no-op", func(t *testing.T) {
		before, err := procs.LoadDir(c.Dir() + "/pids")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fleet.Up(ctx, localfleet.Spec{Name: "life", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 3}}}); err != nil {
			t.Fatal(err)
		}
		after, _ := procs.LoadDir(c.Dir() + "/pids")
		for name, rec := range before {
			if after[name].PID != rec.PID {
				t.Errorf("%s restarted: pid %d -> %d", name, rec.PID, after[name].PID)
			}
		}
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		_, err := fleet.Up(ctx, localfleet.Spec{Name: "life", KubernetesVersion: higher.Minor})
		if err == nil || !strings.Contains(err.Error(), "already taken") {
			t.Errorf("up with another version on a taken name: %v", err)
		}
		_, err = fleet.Up(ctx, localfleet.Spec{Name: "busy", KubernetesVersion: lower.Minor, APIServerPort: c.Ports.APIServer})
		if err == nil || !strings.Contains(err.Error(), "is busy") {
			t.Errorf("up on a busy port: %v", err)
		}
		if _, err := fleet.Get("busy"); !errors.Is(err, localfleet.ErrNotFound) {
			t.Errorf("a failed up left state behind: %v", err)
		}
		if err := fleet.UpgradeControlPlane(ctx, "life", "1.32"); err == nil {
			t.Error("upgrade to an unknown version succeeded")
		}
	})

	t.Run("control plane upgrade keeps every object", func(t *testing.T) {
		marker := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "marker"}, Data: map[string]string{"kept": "yes"}}
		if _, err := client.CoreV1().ConfigMaps("shop").Create(ctx, marker, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		before := inventory(t, client)
		if err := fleet.UpgradeControlPlane(ctx, "life", higher.Minor); err != nil {
			t.Fatal(err)
		}
		v, err := client.Discovery().ServerVersion()
		if err != nil || v.GitVersion != higher.Version {
			t.Fatalf("/version after upgrade = %v, %v; want %s", v, err, higher.Version)
		}
		after := inventory(t, client)
		for key, uid := range before {
			if after[key] != uid {
				t.Errorf("%s: uid %s before the upgrade, %q after", key, uid, after[key])
			}
		}
		cm, err := client.CoreV1().ConfigMaps("shop").Get(ctx, "marker", metav1.GetOptions{})
		if err != nil || cm.Data["kept"] != "yes" {
			t.Errorf("marker after upgrade: %v, %v", cm, err)
		}
		if err := app.WaitAvailable(ctx, client, time.Minute); err != nil {
			t.Error(err)
		}
		a := waitIngress(t, c, app.Host, http.StatusOK)
		deadline := time.Now().Add(10 * time.Second)
		for a.KubernetesVersion != higher.Version && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
			a = waitIngress(t, c, app.Host, http.StatusOK)
		}
		if a.KubernetesVersion != higher.Version {
			t.Errorf("ingress reports %s after the upgrade", a.KubernetesVersion)
		}
		rec, _ := fleet.Get("life")
		if rec.KubernetesVersion != higher.Version || rec.Phase != localfleet.PhaseRunning {
			t.Errorf("record after upgrade: %s %s", rec.KubernetesVersion, rec.Phase)
		}
		// Upgrading again is a no-op; skipping or going back is refused.
		if err := fleet.UpgradeControlPlane(ctx, "life", higher.Minor); err != nil {
			t.Errorf("repeated upgrade: %v", err)
		}
		if err := fleet.UpgradeControlPlane(ctx, "life", lower.Minor); err == nil || !strings.Contains(err.Error(), "downgrade") {
			t.Errorf("downgrade: %v", err)
		}
	})

	t.Run("down leaves no process behind", func(t *testing.T) {
		recs, err := procs.LoadDir(c.Dir() + "/pids")
		if err != nil || len(recs) != 6 {
			t.Fatalf("process records: %d, %v", len(recs), err)
		}
		if err := fleet.Down("life"); err != nil {
			t.Fatal(err)
		}
		downed = true
		for name, rec := range recs {
			if rec.Alive() {
				t.Errorf("%s (pid %d) still runs after down", name, rec.PID)
			}
		}
		if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state folder still there: %v", err)
		}
		if !portFree(c.Ports.APIServer) {
			t.Errorf("API server port %d still bound", c.Ports.APIServer)
		}
	})
}

// TestUpFailureLeavesNothing breaks a start on purpose (the ingress port is
// taken by someone else between allocation and start is hard to arrange, so
// the daemon command is made to fail) and checks that nothing is left.
func TestUpFailureLeavesNothing(t *testing.T) {
	base := testfleet.Fleet(t)
	broken := *base
	broken.DaemonCommand = []string{"/bin/false"}
	_, err := broken.Up(t.Context(), localfleet.Spec{Name: "broken", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "system", Count: 1}}})
	if err == nil || !strings.Contains(err.Error(), "ingress") {
		t.Fatalf("up with a failing ingress daemon: %v", err)
	}
	if _, err := base.Get("broken"); !errors.Is(err, localfleet.ErrNotFound) {
		t.Errorf("state left behind: %v", err)
	}
	if out, _ := os.ReadFile("/proc/self/stat"); len(out) == 0 {
		t.Skip("no /proc")
	}
	if pids := processesUnder(t, base.Home+"/clusters/broken"); len(pids) > 0 {
		t.Errorf("processes left running: %v", pids)
	}
}

func TestMissingToolchain(t *testing.T) {
	base := testfleet.Fleet(t)
	empty := *base
	empty.Tools = &toolchain.Cache{Dir: t.TempDir()}
	t.Setenv("PATH", "")
	_, err := empty.Up(t.Context(), localfleet.Spec{Name: "nogo", KubernetesVersion: lower.Minor})
	if err == nil || !strings.Contains(err.Error(), "Go toolchain") {
		t.Fatalf("up without binaries or Go: %v", err)
	}
	if _, err := base.Get("nogo"); !errors.Is(err, localfleet.ErrNotFound) {
		t.Errorf("state left behind: %v", err)
	}
}

func mustClient(t *testing.T, c *localfleet.Cluster) kubernetes.Interface {
	t.Helper()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func scale(t *testing.T, client kubernetes.Interface, app sampleapp.App, n int32) {
	t.Helper()
	// A patch carries no resourceVersion: the deployment controller's own
	// writes cannot make it conflict (a Get+Update did, in a CI run).
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	if _, err := client.AppsV1().Deployments(app.Namespace).Patch(t.Context(), app.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

type reply struct {
	code   int
	answer ingress.Answer
}

func get(t *testing.T, c *localfleet.Cluster, host string) reply {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, c.IngressURL()+"/", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	r.code = resp.StatusCode
	_ = json.NewDecoder(resp.Body).Decode(&r.answer)
	return r
}

// waitIngress polls until the host answers with code, as endpoints follow
// pods within a few seconds.
func waitIngress(t *testing.T, c *localfleet.Cluster, host string, code int) ingress.Answer {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := get(t, c, host)
		if r.code == code {
			return r.answer
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d (%+v), want %d", host, r.code, r.answer, code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// inventory maps every namespaced object of common kinds to its uid.
func inventory(t *testing.T, client kubernetes.Interface) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	add := func(kind string, items []metav1.Object) {
		for _, o := range items {
			out[kind+" "+o.GetNamespace()+"/"+o.GetName()] = string(o.GetUID())
		}
	}
	ns, _ := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	add("Namespace", objects(ns.Items))
	deps, _ := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	add("Deployment", objects(deps.Items))
	svcs, _ := client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	add("Service", objects(svcs.Items))
	ings, _ := client.NetworkingV1().Ingresses("").List(ctx, metav1.ListOptions{})
	add("Ingress", objects(ings.Items))
	cms, _ := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	add("ConfigMap", objects(cms.Items))
	pdbs, _ := client.PolicyV1().PodDisruptionBudgets("").List(ctx, metav1.ListOptions{})
	add("PodDisruptionBudget", objects(pdbs.Items))
	nodes, _ := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	add("Node", objects(nodes.Items))
	if len(out) < 10 {
		t.Fatalf("inventory has only %d objects: %v", len(out), out)
	}
	return out
}

func objects[T any, PT interface {
	*T
	metav1.Object
}](items []T) []metav1.Object {
	out := make([]metav1.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// processesUnder finds running processes whose command line mentions dir.
func processesUnder(t *testing.T, dir string) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(cmdline), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestEtcdIsPrivateAndDurable: a local cluster's etcd answers only clients
// with a certificate of the cluster's CA (not plain HTTP, not TLS without
// a certificate), the API server reaches it, and it fsyncs unless asked
// not to at up.
func TestEtcdIsPrivateAndDurable(t *testing.T) {
	c := testfleet.Up(t, localfleet.Spec{Name: "sealed", KubernetesVersion: toolchain.Previous().Minor})
	addr := fmt.Sprintf("127.0.0.1:%d", c.Ports.EtcdClient)
	plain := &http.Client{Timeout: 3 * time.Second}
	if resp, err := plain.Get("http://" + addr + "/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("etcd answered plain HTTP")
		}
	}
	noCert := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := noCert.Get("https://" + addr + "/health"); err == nil {
		resp.Body.Close()
		t.Errorf("etcd answered a TLS client without a certificate: %s", resp.Status)
	}
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
		t.Errorf("the API server does not reach its etcd: %v", err)
	}
	recs, err := procs.LoadDir(c.Dir() + "/pids")
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", recs["etcd"].PID))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cmdline), "unsafe-no-fsync") || !strings.Contains(string(cmdline), "client-cert-auth=true") {
		t.Errorf("etcd runs with %q", strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
}
