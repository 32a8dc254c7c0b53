package exec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
)

// TestSecretsNeverShow seeds known markers where users keep secrets — a
// bearer token and a client key in a member's kubeconfig, a Secret in the
// cluster — runs the commands that read them (fleet, plan, a whole run
// through the exec provider, status, history, both scans in every output
// format, the compliance report) and the same with credentials the API
// server refuses, and finds no marker in any output, exit message, status,
// audit line or file upshift wrote.
func TestSecretsNeverShow(t *testing.T) {
	const (
		tokenMarker  = "upshift-marker-token-7f3a9c0e"
		secretMarker = "upshift-marker-secret-b21e44d1"
	)
	c := testfleet.Up(t, localfleet.Spec{Name: "vault", KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
	ctx := t.Context()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": secretMarker}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The member's kubeconfig with a bearer token beside its client
	// certificate (the certificate authenticates it), and one with only
	// the token, which the API server refuses.
	kc, err := clientcmd.LoadFromFile(c.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	user := kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo]
	keyLines := strings.Split(strings.TrimSpace(string(user.ClientKeyData)), "\n")
	if len(keyLines) < 4 {
		t.Fatal("the member's kubeconfig holds no client key to watch for")
	}
	markers := map[string]string{"token": tokenMarker, "Secret": secretMarker, "client key": keyLines[len(keyLines)/2]}
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "vault.kubeconfig"), filepath.Join(dir, "refused.kubeconfig")
	user.Token = tokenMarker
	if err := clientcmd.WriteToFile(*kc, good); err != nil {
		t.Fatal(err)
	}
	user.ClientCertificateData, user.ClientKeyData = nil, nil
	if err := clientcmd.WriteToFile(*kc, bad); err != nil {
		t.Fatal(err)
	}

	home := testfleet.Fleet(t).Home
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	member := func(kubeconfig string) string {
		return fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: vault}
spec:
  provider: exec
  group: all
  kubeconfig: %q
  exec: {name: vault, command: [%q], env: {UPSHIFT_BIN: %q}}
`, kubeconfig, exampleScript(t), exe)
	}
	fleetFile, refusedFleet := filepath.Join(dir, "fleet.yaml"), filepath.Join(dir, "refused.yaml")
	runFile, refusedRun := filepath.Join(dir, "run.yaml"), filepath.Join(dir, "refused-run.yaml")
	write(t, fleetFile, member(good))
	write(t, refusedFleet, member(bad))
	for file, name := range map[string]string{runFile: "vault-run", refusedRun: "vault-refused"} {
		write(t, file, fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: %s}
spec:
  strategy: {stages: [{name: all, groups: [{name: all}]}]}
  upgrade: {type: Full, kubernetesVersion: "%s"}
  nodeUpgrade: {maxSurge: 1, drainTimeout: 1m}
  gates:
    preflight: [{name: healthy, type: KubernetesHealth, interval: 100ms}]
`, name, higher.Minor))
	}

	var said bytes.Buffer
	run := func(wantOK bool, args ...string) {
		t.Helper()
		out, err := testfleet.CLI(args...).CombinedOutput()
		fmt.Fprintf(&said, "$ upshift %s\n%s\n", strings.Join(args, " "), out)
		var exit *exec.ExitError
		if wantOK && err != nil {
			t.Errorf("upshift %s: %v\n%s", strings.Join(args, " "), err, out)
		} else if !wantOK && !errors.As(err, &exit) {
			t.Errorf("upshift %s with credentials the API server refuses: %v, want a refusal\n%s", strings.Join(args, " "), err, out)
		}
	}
	run(true, "fleet", "--fleet", fleetFile, "--home", home)
	run(true, "plan", "-f", runFile, "--fleet", fleetFile, "--home", home)
	// The plan as data, for a pipeline: each cluster's steps by name.
	planJSON, err := testfleet.CLI("plan", "-f", runFile, "--fleet", fleetFile, "--home", home, "-o", "json").Output()
	if err != nil {
		t.Fatalf("plan -o json: %v", err)
	}
	var planned struct {
		Stages []struct {
			Name   string `json:"name"`
			Groups []struct {
				Clusters []struct {
					Name  string   `json:"name"`
					Steps []string `json:"steps"`
				} `json:"clusters"`
			} `json:"groups"`
		} `json:"stages"`
	}
	if err := json.Unmarshal(planJSON, &planned); err != nil || len(planned.Stages) != 1 || len(planned.Stages[0].Groups) != 1 ||
		len(planned.Stages[0].Groups[0].Clusters) != 1 || !slices.Contains(planned.Stages[0].Groups[0].Clusters[0].Steps, "ControlPlane "+higher.Version) {
		t.Errorf("plan -o json: %v\n%s", err, planJSON)
	}
	run(true, "run", "-f", runFile, "--fleet", fleetFile, "--home", home)
	run(true, "status", "vault-run", "--home", home)
	run(true, "history", "--home", home)
	for _, format := range []string{"table", "json", "yaml", "sarif", "junit"} {
		run(true, "scan", "readiness", "--fleet", fleetFile, "--home", home, "-o", format, "--fail-on", "none")
		run(true, "scan", "apis", "--fleet", fleetFile, "--home", home, "-o", format, "--target-version", higher.Minor)
	}
	// The exec provider has no node-image catalogue: the report says its
	// compliance is not known (exit 9), never "compliant".
	code, out := testfleet.RunCLI(t, "report", "compliance", "--fleet", fleetFile, "--home", home)
	fmt.Fprintf(&said, "$ upshift report compliance\n%s\n", out)
	if code != 9 || !strings.Contains(out, "provider exec has no node-image catalogue") {
		t.Errorf("upshift report compliance of an exec cluster: exit %d, want 9 (not known)\n%s", code, out)
	}
	// Credentials the API server refuses: `fleet` says so (the exec
	// provider's own command still answers), a scan and a run refuse.
	before := said.Len()
	run(true, "fleet", "--fleet", refusedFleet, "--home", home)
	if out := said.String()[before:]; !strings.Contains(out, "refuses upshift's credentials") {
		t.Errorf("fleet with credentials the API server refuses does not say so:\n%s", out)
	}
	run(false, "scan", "readiness", "--fleet", refusedFleet, "--home", home)
	run(false, "run", "-f", refusedRun, "--fleet", refusedFleet, "--home", home)
	run(true, "status", "vault-refused", "--home", home)
	if !strings.Contains(said.String(), "vault-run: Completed") || !strings.Contains(said.String(), "Unauthorized") {
		t.Errorf("the commands did not do what the sweep needs (a run, a refusal):\n%s", said.String())
	}
	for what, m := range markers {
		if strings.Contains(said.String(), m) {
			t.Errorf("the %s marker appears in the commands' output:\n%s", what, said.String())
		}
	}
	files := 0
	if err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, string(filepath.Separator)+"clusters"+string(filepath.Separator)) {
			return err // the local fleet's own clusters hold their keys
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil // sockets, files gone meanwhile
		}
		files++
		for what, m := range markers {
			if bytes.Contains(data, []byte(m)) {
				t.Errorf("the %s marker is in %s", what, path)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Error("the sweep read no file upshift wrote")
	}
	t.Logf("swept %d bytes of output and %d files for %d markers", said.Len(), files, len(markers))
}
