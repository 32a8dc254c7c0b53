package exec_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/exec"
	"upshift.dev/upshift/internal/transient"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "provider.sh")
	if err := os.WriteFile(path, []byte("#!/usr/bin/env bash\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRequestReachesTheCommand: the operation is the last argument, the
// request is JSON on stdin and UPSHIFT_EXEC_* variables, and the answers
// are read back: a cluster, versions sorted, a pool upgrade's counts and
// its stderr lines as progress.
func TestRequestReachesTheCommand(t *testing.T) {
	dir := t.TempDir()
	path := script(t, `
op="$1"; cat > "`+dir+`/$op.json"; env | grep ^UPSHIFT_EXEC_ | sort > "`+dir+`/$op.env"
case "$op" in
get) echo '{"name":"prod","kubernetesVersion":"v1.35.4","nodePools":[{"name":"user","count":3,"kubernetesVersion":"v1.35.4","nodeImage":"AL2023"}]}' ;;
versions) echo '{"versions":["v1.36.3","1.35.4","v1.37.2"]}' ;;
upgrade-node-pool) echo "surging 1 node" >&2; echo "draining ip-10-0-1-7" >&2; printf '{"replaced":3,"batches":3}' ;;
upgrade-control-plane) ;;
esac`)
	p := &exec.Provider{Command: []string{path}}
	ctx := t.Context()
	got, err := p.Get(ctx, "prod")
	if err != nil || got.KubernetesVersion != "v1.35.4" || len(got.NodePools) != 1 || got.NodePools[0].Count != 3 || got.NodePools[0].NodeImage != "AL2023" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	versions, err := p.Versions(ctx)
	if err != nil || len(versions) != 3 || versions[0].String() != "v1.35.4" || versions[2].String() != "v1.37.2" {
		t.Fatalf("Versions = %v, %v", versions, err)
	}
	if err := p.UpgradeControlPlane(ctx, "prod", "v1.36.3"); err != nil {
		t.Fatal(err)
	}
	var progress []string
	res, err := p.UpgradeNodePool(ctx, "prod", "user", cluster.NodePoolUpgrade{
		KubernetesVersion: "v1.36.3", MaxSurge: intstr.FromString("33%"), DrainTimeout: 5 * time.Minute,
		Events: func(e nodepool.Event) { progress = append(progress, e.Message) },
	})
	if err != nil || res.Replaced != 3 || res.Batches != 3 {
		t.Fatalf("UpgradeNodePool = %+v, %v", res, err)
	}
	if strings.Join(progress, "|") != "surging 1 node|draining ip-10-0-1-7" {
		t.Errorf("progress = %q", progress)
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for _, want := range []string{`"apiVersion":"upshift.dev/exec/v1"`, `"operation":"upgrade-node-pool"`, `"cluster":"prod"`, `"pool":"user"`, `"maxSurge":"33%"`, `"drainTimeoutSeconds":300`} {
		if !strings.Contains(read("upgrade-node-pool.json"), want) {
			t.Errorf("request %s lacks %s", read("upgrade-node-pool.json"), want)
		}
	}
	if env := read("upgrade-node-pool.env"); !strings.Contains(env, "UPSHIFT_EXEC_MAX_SURGE=33%") || !strings.Contains(env, "UPSHIFT_EXEC_DRAIN_TIMEOUT_SECONDS=300") || !strings.Contains(env, "UPSHIFT_EXEC_POOL=user") {
		t.Errorf("variables of upgrade-node-pool:\n%s", env)
	}
	if env := read("upgrade-control-plane.env"); !strings.Contains(env, "UPSHIFT_EXEC_KUBERNETES_VERSION=v1.36.3") || !strings.Contains(env, "UPSHIFT_EXEC_CLUSTER=prod") {
		t.Errorf("variables of upgrade-control-plane:\n%s", env)
	}
}

// TestBadCommandsFailClearly: a command that fails, hangs past its
// timeout, prints garbage, or cannot be found gives one error that names
// the operation and what went wrong, never a retry loop; exit 75 is a
// passing fault, exit 3 a cluster that does not exist (a delete of one is
// done). Secrets given in spec.exec.env never show in an error.
func TestBadCommandsFailClearly(t *testing.T) {
	ctx := t.Context()
	failing := &exec.Provider{Command: []string{script(t, `echo "eksctl: cannot upgrade nodegroup ng-1: token $API_TOKEN rejected" >&2; exit 1`)}, Env: map[string]string{"API_TOKEN": "s3cr3t-t0ken"}}
	err := failing.UpgradeControlPlane(ctx, "prod", "v1.36.3")
	if err == nil || transient.Is(err) || !strings.Contains(err.Error(), "upgrade-control-plane (cluster prod) exited 1") || !strings.Contains(err.Error(), "cannot upgrade nodegroup ng-1") {
		t.Errorf("failing command: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cr3t-t0ken") {
		t.Errorf("the error shows a secret of spec.exec.env: %v", err)
	}

	pidFile := filepath.Join(t.TempDir(), "pid")
	hanging := &exec.Provider{Command: []string{script(t, `sleep 300 & echo $! > `+pidFile+`; wait`)}, Timeouts: map[string]time.Duration{cluster.OpGet: time.Second}}
	start := time.Now()
	_, err = hanging.Get(ctx, "prod")
	if err == nil || !strings.Contains(err.Error(), "did not finish within 1s and was stopped") || !strings.Contains(err.Error(), "spec.exec.timeouts.get") || transient.Is(err) {
		t.Errorf("hanging command: %v", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a 1s timeout took %s", took)
	}
	if pid, rerr := os.ReadFile(pidFile); rerr == nil && running(strings.TrimSpace(string(pid))) {
		t.Errorf("the hanging command's child %s still runs after the timeout", strings.TrimSpace(string(pid)))
	}

	garbage := &exec.Provider{Command: []string{script(t, `echo "Upgrading cluster prod..."; echo '{"kubernetesVersion":"v1.36.3"}'`)}}
	_, err = garbage.Get(ctx, "prod")
	if err == nil || !strings.Contains(err.Error(), "not the contract's JSON") || !strings.Contains(err.Error(), "stdout began: Upgrading cluster prod") {
		t.Errorf("garbage on stdout: %v", err)
	}
	noVersion := &exec.Provider{Command: []string{script(t, `echo '{"name":"prod","kubernetesVersion":"latest"}'`)}}
	if _, err = noVersion.Get(ctx, "prod"); err == nil || !strings.Contains(err.Error(), "kubernetesVersion") {
		t.Errorf("a cluster without a version: %v", err)
	}
	unknownField := &exec.Provider{Command: []string{script(t, `echo '{"versions":["v1.35.4"],"latest":"v1.35.4"}'`)}}
	if _, err = unknownField.Versions(ctx); err == nil || !strings.Contains(err.Error(), `unknown field "latest"`) {
		t.Errorf("an answer with an unknown field: %v", err)
	}

	throttled := &exec.Provider{Command: []string{script(t, `echo "Throttling: Rate exceeded" >&2; exit 75`)}}
	if err := throttled.UpgradeControlPlane(ctx, "prod", "v1.36.3"); err == nil || !transient.Is(err) || !strings.Contains(err.Error(), "Rate exceeded") {
		t.Errorf("exit 75 is a passing fault: %v (transient %v)", err, transient.Is(err))
	}

	gone := &exec.Provider{Command: []string{script(t, `echo "no such cluster" >&2; exit 3`)}}
	var nf *exec.NotFoundError
	if _, err := gone.Get(ctx, "green"); !errors.As(err, &nf) || nf.Cluster != "green" {
		t.Errorf("exit 3 on get: %v", err)
	}
	if err := gone.Delete(ctx, "green"); err != nil {
		t.Errorf("deleting a cluster that is gone: %v", err)
	}

	missing := v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "eks-prod"}, Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderExec,
		Exec: &v1alpha1.ExecCluster{Name: "prod", Command: []string{filepath.Join(t.TempDir(), "eks-provider.sh")}}}}
	if _, err := exec.New(missing); err == nil || !strings.Contains(err.Error(), "spec.exec.command") || !strings.Contains(err.Error(), "cannot be run") {
		t.Errorf("a command that does not exist: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := hanging.Get(cancelled, "prod"); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled call: %v", err)
	}
}

// running reports whether a process lives (a zombie waiting to be reaped
// does not count), giving a killed one a moment to go.
func running(pid string) bool {
	for range 50 {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return false
		}
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// TestValidate: the fleet file's exec part is checked when it is read,
// and a relative command is taken from the fleet file's folder.
func TestValidate(t *testing.T) {
	c := func(e *v1alpha1.ExecCluster) *v1alpha1.Cluster {
		return &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "eks"}, Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderExec, Exec: e}}
	}
	good := c(&v1alpha1.ExecCluster{Name: "prod", Command: []string{"./providers/eks.sh", "--region", "eu-west-1"}, Timeouts: map[string]metav1.Duration{"upgrade-node-pool": {Duration: time.Hour}}})
	if err := exec.Validate(good, "/etc/fleet"); err != nil || good.Spec.Exec.Command[0] != "/etc/fleet/providers/eks.sh" || good.Spec.Exec.Command[1] != "--region" {
		t.Errorf("good: %v, command %v", err, good.Spec.Exec.Command)
	}
	onPath := c(&v1alpha1.ExecCluster{Name: "prod", Command: []string{"eks-provider"}})
	if err := exec.Validate(onPath, "/etc/fleet"); err != nil || onPath.Spec.Exec.Command[0] != "eks-provider" {
		t.Errorf("a command on PATH: %v, %v", err, onPath.Spec.Exec.Command)
	}
	for _, tc := range []struct {
		cluster *v1alpha1.Cluster
		want    string
	}{
		{c(nil), "spec.exec (name and command) is required"},
		{c(&v1alpha1.ExecCluster{Name: "prod"}), "spec.exec.command is required"},
		{c(&v1alpha1.ExecCluster{Name: "../x", Command: []string{"x"}}), "spec.exec.name"},
		{c(&v1alpha1.ExecCluster{Name: "prod", Command: []string{"x"}, Timeouts: map[string]metav1.Duration{"upgrade": {Duration: time.Hour}}}), "spec.exec.timeouts.upgrade: no such operation"},
		{c(&v1alpha1.ExecCluster{Name: "prod", Command: []string{"x"}, Timeouts: map[string]metav1.Duration{"get": {}}}), "not a positive duration"},
		{c(&v1alpha1.ExecCluster{Name: "prod", Command: []string{"x"}, Env: map[string]string{"UPSHIFT_EXEC_CLUSTER": "y"}}), "not a variable name you may set"},
		{c(&v1alpha1.ExecCluster{Name: "prod", Command: []string{"x"}, EnvSecretRefs: map[string]v1alpha1.SecretKeyRef{"A=B": {Name: "s"}}}), "spec.exec.envSecretRefs: \"A=B\" is not a variable name"},
	} {
		if err := exec.Validate(tc.cluster, "/etc/fleet"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cluster.Spec.Exec, err, tc.want)
		}
	}
	// The CLI reads no Secrets: a variable from one says how to give it.
	fromSecret := c(&v1alpha1.ExecCluster{Name: "prod", Command: []string{"true"}, EnvSecretRefs: map[string]v1alpha1.SecretKeyRef{"EKS_TOKEN": {Name: "eks"}}})
	if _, err := exec.New(*fromSecret); err == nil || !strings.Contains(err.Error(), "spec.exec.envSecretRefs.EKS_TOKEN (Secret eks) is read by a hub; the CLI reads no Secrets: give spec.exec.env.EKS_TOKEN") {
		t.Errorf("envSecretRefs outside a hub: %v", err)
	}
}
