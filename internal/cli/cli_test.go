package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/exitcode"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/scancli"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

// TestBadInput checks that bad input exits 2 with one line that says what
// to fix, before anything is started.
func TestBadInput(t *testing.T) {
	home := t.TempDir()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownField := write("unknown.yaml", "traffic:\n  provider: gateway\n  hostz: {}\n")
	wrongCase := write("case.yaml", "traffic:\n  provider: dns\n  dns:\n    switchTtl: 30\n")
	good := write("bg.yaml", "traffic:\n  provider: gateway\n  gateway: {adminURL: \"http://127.0.0.1:1\", tokenFile: token}\n  hosts: {public: a.example, cluster: b.example, blue: c.example, green: d.example}\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown version", []string{"local", "up", "dev", "--kubernetes-version", "1.20"}, "not available locally"},
		{"not a version", []string{"local", "up", "dev", "--kubernetes-version", "latest"}, "is not a version"},
		{"malformed pool", []string{"local", "up", "dev", "--node-pool", "user:5"}, "write NAME=COUNT"},
		{"bad name", []string{"local", "up", "Dev!"}, "cluster name"},
		{"no name", []string{"local", "up"}, "takes NAME"},
		{"unknown flag", []string{"local", "up", "dev", "--nodes", "3"}, "unknown flag"},
		{"bad output", []string{"local", "list", "-o", "xml"}, "unknown output format"},
		{"down nothing", []string{"local", "down"}, "--all"},
		{"down unknown", []string{"local", "down", "ghost"}, "no such local cluster"},
		{"upgrade without version", []string{"local", "upgrade-control-plane", "dev"}, "--kubernetes-version is required"},
		{"bluegreen without version", []string{"bluegreen", "shop", "-f", good}, "--to VERSION"},
		{"bluegreen unknown field", []string{"bluegreen", "shop", "--to", toolchain.Latest().Minor, "-f", unknownField}, `unknown.yaml: line 3: traffic.hostz: unknown field; did you mean hosts?`},
		{"bluegreen unknown cluster", []string{"bluegreen", "ghost", "--to", toolchain.Latest().Minor, "-f", good}, `no such local cluster "ghost"`},
		{"rollback unknown run", []string{"rollback", "ghost"}, "ghost"},
		{"bluegreen field in the wrong case", []string{"bluegreen", "shop", "--to", toolchain.Latest().Minor, "-f", wrongCase}, `case.yaml: line 4: traffic.dns.switchTtl: unknown field; did you mean switchTTL?`},
		{"canary unknown field", []string{"canary", "shop", "--to", toolchain.Latest().Minor, "-f", unknownField}, `traffic.hostz: unknown field; did you mean hosts?`},
		{"bluegreen bad run name", []string{"bluegreen", "shop", "--to", toolchain.Latest().Minor, "-f", good, "--name", "../x"}, "run name"},
		{"pool name a path", []string{"local", "upgrade-node-pool", "dev", "../user"}, "node pool name"},
		{"weights not pairs", []string{"traffic", "set", "blue:100", "--gateway", "http://127.0.0.1:1", "--route", "a.example"}, "NAME=WEIGHT"},
		{"weights not 100", []string{"traffic", "set", "blue=50,green=20", "--gateway", "http://127.0.0.1:1", "--route", "a.example"}, "100"},
		{"patch run name a path", []string{"patch", "--node-image", "ubuntu-2204-2026.12", "--fleet", good, "--name", ".."}, "run name"},
		{"hub namespace", []string{"hub", "run", "--namespace", "a/b"}, "namespace name"},
		{"dashboard address", []string{"dashboard", "--listen", "8090"}, "HOST:PORT"},
		{"dashboard auth", []string{"dashboard", "--auth", "oidc"}, "give token or kubernetes"},
		{"dashboard kubernetes without a hub", []string{"dashboard", "--auth", "kubernetes"}, "give the hub's --context"},
		{"dashboard half of TLS", []string{"dashboard", "--tls-cert-file", "tls.crt"}, "go together"},
		{"dashboard TLS files", []string{"dashboard", "--tls-cert-file", good, "--tls-key-file", good}, "--tls-cert-file/--tls-key-file"},
		{"hub dashboard auth", []string{"hub", "run", "--dashboard-auth", "basic"}, "--dashboard-auth \"basic\": give token or kubernetes"},
		{"hub keep-runs", []string{"hub", "run", "--keep-runs", "-1"}, "--keep-runs -1"},
		{"readiness fail-on", []string{"scan", "readiness", "--fail-on", "fatal"}, "--fail-on"},
		{"schedule interval", []string{"schedule", "--fleet", good, "-f", good, "--interval", "1ms"}, "--interval"},
		{"scan a path that does not exist", []string{"scan", "apis", "--target-version", "1.37", "-f", filepath.Join(dir, "no-such-folder")}, "no such file or folder"},
		{"scan an add-on not known", []string{"scan", "apis", "--target-version", "1.37", "-f", good, "--target", "linkerd=2.14"}, "the rules know cert-manager, istio"},
		{"scan an add-on without version", []string{"scan", "apis", "--target-version", "1.37", "-f", good, "--target", "cert-manager"}, "ADDON=VERSION"},
		{"scan an add-on's version", []string{"scan", "apis", "--target-version", "1.37", "-f", good, "--target", "cert-manager=one"}, "is not a release"},
		{"scan Kubernetes as an add-on", []string{"scan", "apis", "--target", "k8s=v1.25.0", "--target-version", "1.37", "-f", good}, "--target-version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := tc.args
			if args[0] != "traffic" { // the only commands without a home
				args = append(args, "--home", home)
			}
			code := Main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
			if code != ExitUsage {
				t.Errorf("exit code %d, want %d (stderr %q)", code, ExitUsage, errOut.String())
			}
			msg := strings.TrimSpace(errOut.String())
			if !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") > 0 {
				t.Errorf("stderr %q: want one line mentioning %q", msg, tc.want)
			}
		})
	}
}

func TestListEmpty(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"local", "list", "-o", "json", "--home", t.TempDir()}, Streams{Out: &out, Err: &errOut})
	if code != 0 || strings.TrimSpace(out.String()) != "[]" {
		t.Errorf("list on an empty fleet: exit %d, out %q, err %q", code, out.String(), errOut.String())
	}
}

// TestPathNamesChangeNothing: a name that is a path (".", "..", "../x",
// "a/b") is refused with exit 2 by every command that turns names into
// paths, and the home, its neighbours and its runs are left as they were.
// Before names were checked, `local down ..` deleted the whole home.
func TestPathNamesChangeNothing(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	outside := filepath.Join(root, "x")
	keep := []string{
		filepath.Join(home, "runs", "r1", "status.json"),
		filepath.Join(home, "clusters", "c1", "cluster.json"),
		filepath.Join(outside, "precious"),
	}
	for _, p := range keep {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{".", "..", "../x", "../../x", "runs/r1", "/tmp"} {
		for _, args := range [][]string{
			{"local", "down", bad},
			{"local", "kubeconfig", bad},
			{"local", "upgrade-control-plane", bad, "--kubernetes-version", toolchain.Latest().Minor},
			{"resume", bad},
			{"rollback", bad},
			{"stop", bad},
			{"status", bad},
			{"approve", bad, "--stage", "prod"},
			{"skip", bad, "--cluster", "c1"},
		} {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), append(args, "--home", home), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
			if code != ExitUsage {
				t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitUsage, errOut.String())
			}
			if !strings.Contains(errOut.String(), "is not valid") {
				t.Errorf("%v: stderr %q does not say the name is not valid", args, errOut.String())
			}
			if strings.Contains(out.String()+errOut.String(), "✔") {
				t.Errorf("%v: reported success: %q %q", args, out.String(), errOut.String())
			}
		}
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s is gone: %v", p, err)
		}
	}
}

// TestUnknownCommand: an unknown command or subcommand is bad input (exit
// 2) with one line naming it; before, it exited 1 or printed help with 0.
func TestUnknownCommand(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"local", "frob"}, {"scan", "everything"}, {"traffic", "nope"},
		{"rewind", "--help"}, {"local", "frob", "-h"}} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		msg := strings.TrimSpace(errOut.String())
		name := strings.TrimSuffix(strings.TrimSuffix(strings.Join(args, " "), " --help"), " -h")
		name = name[strings.LastIndex(name, " ")+1:]
		if code != ExitUsage || !strings.Contains(msg, `unknown command "`+name+`"`) || strings.Contains(msg, "\n") || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line naming the command, and no help", args, code, msg)
		}
	}
	// Help of commands that exist is still help.
	for _, args := range [][]string{{"--help"}, {"local", "--help"}, {"status", "--help"}, {"scan", "apis", "-h"}} {
		var out bytes.Buffer
		if code := Main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &out}); code != ExitOK || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%v: exit %d, want 0 with the help", args, code)
		}
	}
	var out bytes.Buffer
	if code := Main(context.Background(), nil, Streams{In: strings.NewReader(""), Out: &out, Err: &out}); code != ExitOK || !strings.Contains(out.String(), "Available Commands") {
		t.Errorf("upshift alone: exit %d, want 0 with the help", code)
	}
}

// TestApproveNamesSomethingThatWaits: approving or skipping a stage,
// task, cluster or gate the run does not have is bad input and records
// nothing; a real approval records the OS user beside --by.
func TestApproveNamesSomethingThatWaits(t *testing.T) {
	home := t.TempDir()
	st := &store.Store{Dir: home}
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "r1"}}
	run.Spec.Gates.PostUpgrade = []v1alpha1.GateSpec{{Name: "sign-off", Type: v1alpha1.GateApproval}}
	if err := st.Create(run); err != nil {
		t.Fatal(err)
	}
	status := v1alpha1.UpdateRunStatus{Stages: []v1alpha1.StageStatus{
		{Name: "dev", Phase: v1alpha1.PhaseCompleted, Clusters: []v1alpha1.StageClusterStatus{{Name: "dev-1", Phase: v1alpha1.PhaseCompleted}},
			AfterTasks: []v1alpha1.TaskStatus{{Name: "soak", Type: v1alpha1.TaskTimedWait, Phase: v1alpha1.PhaseCompleted}}},
		{Name: "production", Phase: v1alpha1.PhaseWaiting, Clusters: []v1alpha1.StageClusterStatus{{Name: "prod-1"}},
			BeforeTasks: []v1alpha1.TaskStatus{{Name: "Approval", Type: v1alpha1.TaskApproval, Phase: v1alpha1.PhaseWaiting}}},
	}}
	if err := st.SaveStatus("r1", &status); err != nil {
		t.Fatal(err)
	}
	run1 := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append(args, "--home", home), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, strings.TrimSpace(errOut.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"approve", "r1", "--stage", "prdo", "--by", "mallory"}, `no stage "prdo"`},
		{[]string{"approve", "r1", "--stage", "dev"}, "no approval task"},
		{[]string{"approve", "r1", "--stage", "production", "--task", "Other"}, `no approval task "Other"`},
		{[]string{"approve", "r1", "--cluster", "ghost", "--gate", "sign-off"}, `no cluster "ghost"`},
		{[]string{"approve", "r1", "--cluster", "prod-1", "--gate", "typo"}, `no Approval gate "typo"`},
		{[]string{"skip", "r1", "--cluster", "ghost"}, `no cluster "ghost"`},
		{[]string{"skip", "r1", "--cluster", "dev-1"}, "Completed already"},
		{[]string{"skip", "r1", "--stage", "production", "--task", "nope"}, `no task "nope"`},
	} {
		code, msg := run1(tc.args...)
		if code != ExitUsage || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 with %q", tc.args, code, msg, tc.want)
		}
	}
	if got, _ := st.Approvals("r1"); len(got) != 0 {
		t.Fatalf("refused requests were recorded: %v", got)
	}
	if skips, _ := st.Skips("r1"); len(skips) != 0 {
		t.Fatalf("refused skips were recorded: %v", skips)
	}
	if code, msg := run1("approve", "r1", "--stage", "production", "--by", "release-manager"); code != ExitOK {
		t.Fatalf("a real approval: exit %d, %q", code, msg)
	}
	got, _ := st.Approvals("r1")
	a := got["stage/production"]
	if a.By != "release-manager" || a.OSUser == "" {
		t.Errorf("approval recorded as %+v, want --by and the OS user", a)
	}
	if code, msg := run1("approve", "r1", "--cluster", "prod-1", "--gate", "sign-off"); code != ExitOK {
		t.Errorf("approving a cluster's approval gate: exit %d, %q", code, msg)
	}
}

// TestScanTargetPastTheRules: a target newer than the rules know is
// scanned, and the report says where the rules stop.
func TestScanTargetPastTheRules(t *testing.T) {
	file := filepath.Join(t.TempDir(), "deploy.yaml")
	if err := os.WriteFile(file, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"scan", "apis", "--target-version", "1.99", "-f", file, "-o", "json"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	want := "the rules know Kubernetes APIs through 1.37"
	if code != ExitOK || !strings.Contains(out.String(), want) || !strings.Contains(errOut.String(), want) {
		t.Errorf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
}

// TestStatusWithoutDriver: a run whose status says Running while no
// process holds its driver lock (the driver was SIGKILLed) is shown as
// such by status and history, with the way on; while a driver holds it,
// it is not. A run that ended shows no "since" in history.
func TestStatusWithoutDriver(t *testing.T) {
	home := t.TempDir()
	st := &store.Store{Dir: home}
	start := metav1.Now()
	for name, phase := range map[string]string{"killed": v1alpha1.PhaseRunning, "failed": v1alpha1.PhaseFailed} {
		if err := st.Create(&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveStatus(name, &v1alpha1.UpdateRunStatus{Phase: phase, Start: &start}); err != nil {
			t.Fatal(err)
		}
	}
	out := func(args ...string) string {
		var out, errOut bytes.Buffer
		Main(context.Background(), append(args, "--home", home), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return out.String()
	}
	if got := out("status", "killed"); !strings.Contains(got, "no process drives this run") || !strings.Contains(got, "upshift resume killed") {
		t.Errorf("status of a run without a driver:\n%s", got)
	}
	history := out("history")
	for _, line := range strings.Split(history, "\n") {
		if strings.HasPrefix(line, "failed ") && strings.Contains(line, "since") || strings.HasPrefix(line, "killed ") && !strings.Contains(line, "Running (no driver: resume it)") {
			t.Errorf("history:\n%s", history)
		}
	}
	unlock, err := st.Lock("killed")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if got := out("status", "killed"); strings.Contains(got, "no process drives") {
		t.Errorf("status of a driven run:\n%s", got)
	}
	if got := out("history"); strings.Contains(got, "no driver") {
		t.Errorf("history with a driver:\n%s", got)
	}
}

// TestPromoteApprovesAHeldStep: promoting a canary whose step waits for
// its approval gives that approval too, and audits both; before, it said
// "all traffic goes to green" while the step went on waiting.
func TestPromoteApprovesAHeldStep(t *testing.T) {
	home := t.TempDir()
	st := &store.Store{Dir: home}
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "c1"}, Spec: v1alpha1.UpdateRunSpec{Method: v1alpha1.MethodCanary,
		Canary: &v1alpha1.CanarySpec{Steps: []v1alpha1.CanaryStep{{Weight: 20, Approval: true}, {Weight: 50}}}}}
	if err := st.Create(run); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStatus("c1", &v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseRunning, Stages: []v1alpha1.StageStatus{{Name: "prod", Phase: v1alpha1.PhaseRunning,
		Clusters: []v1alpha1.StageClusterStatus{{Name: "shop", Phase: v1alpha1.PhaseRunning, Canary: &v1alpha1.CanaryStatus{Step: 1, Weight: 20}}}}}}); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"promote", "c1", "--by", "alice", "--home", home}, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}); code != ExitOK {
		t.Fatalf("promote: exit %d\n%s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "step 1's approval (canary-step-1) given with it") {
		t.Errorf("promote says:\n%s", errOut.String())
	}
	got, _ := st.Approvals("c1")
	if got["cluster/shop/promote"].By != "alice" || got["cluster/shop/canary-step-1"].By != "alice" {
		t.Errorf("approvals recorded: %+v", got)
	}
	events, _ := st.Events("c1")
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	if !slices.Contains(types, "Promoted") || !slices.Contains(types, "Approved") {
		t.Errorf("audit: %v", types)
	}
}

// cliCase is one command run against a home, and what it must answer: its
// exit code and words of its error stream (where the CLI speaks to people).
type cliCase struct {
	args []string
	code int
	says string
}

// checkCLI runs each case with --home home.
func checkCLI(t *testing.T, home string, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append(tc.args, "--home", home), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if code != tc.code || !strings.Contains(errOut.String(), tc.says) {
			t.Errorf("%v: exit %d, %q; want %d saying %q", tc.args, code, errOut.String(), tc.code, tc.says)
		}
	}
}

// storeRun stores a run of name with status, as its driver left it.
func storeRun(t *testing.T, st *store.Store, name string, status *v1alpha1.UpdateRunStatus) {
	t.Helper()
	if err := st.Create(&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStatus(name, status); err != nil {
		t.Fatal(err)
	}
}

// driveRun holds a run's driver lock, as a driving process does, until
// the func it returns is called.
func driveRun(t *testing.T, st *store.Store, name string) func() {
	t.Helper()
	unlock, err := st.Lock(name)
	if err != nil {
		t.Fatal(err)
	}
	return unlock
}

// TestDeleteRun: a run that ended can be deleted and its name used
// again; one a process drives is refused, and one that did not end needs
// --force; nothing is deleted when refused.
func TestDeleteRun(t *testing.T) {
	home := t.TempDir()
	st := &store.Store{Dir: home}
	for name, phase := range map[string]string{"wrong-gate": v1alpha1.PhaseFailed, "killed": v1alpha1.PhaseRunning, "driven": v1alpha1.PhaseRunning} {
		storeRun(t, st, name, &v1alpha1.UpdateRunStatus{Phase: phase})
	}
	defer driveRun(t, st, "driven")()
	checkCLI(t, home, []cliCase{
		{[]string{"delete", "driven"}, ExitUsage, "is being driven: stop it first"},
		{[]string{"delete", "killed"}, ExitUsage, "did not end (Running)"},
		{[]string{"delete", "ghost"}, ExitUsage, "ghost"},
		{[]string{"delete", "wrong-gate"}, ExitOK, "run wrong-gate deleted (was Failed)"},
		{[]string{"delete", "killed", "--force"}, ExitOK, "run killed deleted"},
	})
	list, _ := st.List()
	if len(list) != 1 || list[0].Name != "driven" {
		t.Errorf("runs left: %v", list)
	}
	// The name is free again.
	if err := st.Create(&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "wrong-gate"}}); err != nil {
		t.Errorf("the deleted run's name: %v", err)
	}
}

// TestCancelRun: cancel ends a run that nothing drives at once, leaves a
// driven one to its driver, refuses a run that ended, and a cancelled run
// cannot be resumed.
func TestCancelRun(t *testing.T) {
	home := t.TempDir()
	st := &store.Store{Dir: home}
	members, err := fleet.Marshal([]v1alpha1.Cluster{{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "Cluster"},
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"group": "one"}},
		Spec:       v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderKubeconfig, Kubeconfig: "/nonexistent/kubeconfig"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for name, phase := range map[string]string{"wrong-gate": v1alpha1.PhaseStopped, "driven": v1alpha1.PhaseRunning, "done": v1alpha1.PhaseCompleted} {
		storeRun(t, st, name, &v1alpha1.UpdateRunStatus{Phase: phase, Stages: []v1alpha1.StageStatus{{Name: "one", Phase: phase,
			Clusters: []v1alpha1.StageClusterStatus{{Name: "shop", Phase: phase}}}}})
		if err := st.SaveFleet(name, members); err != nil {
			t.Fatal(err)
		}
	}
	defer driveRun(t, st, "driven")()
	checkCLI(t, home, []cliCase{
		{[]string{"cancel", "ghost"}, ExitUsage, "ghost"},
		{[]string{"cancel", "done"}, ExitUsage, "has ended (Completed): there is nothing to cancel"},
		{[]string{"cancel", "driven", "--reason", "wrong gate"}, ExitOK, "run driven ends Cancelled once its driver has finished the steps under way"},
		{[]string{"cancel", "wrong-gate", "--reason", "wrong gate"}, ExitOK, "run wrong-gate cancelled"},
		{[]string{"cancel", "wrong-gate"}, ExitUsage, "has ended (Cancelled)"},
		{[]string{"resume", "wrong-gate"}, ExitUsage, "run wrong-gate was cancelled and cannot be resumed"},
	})
	if got, _ := st.Get("wrong-gate"); got.Status.Phase != v1alpha1.PhaseCancelled || got.Status.Stages[0].Clusters[0].Phase != v1alpha1.PhaseStopped {
		t.Errorf("the cancelled run: %s, its cluster %s", got.Status.Phase, got.Status.Stages[0].Clusters[0].Phase)
	}
	if got, _ := st.Get("driven"); got.Spec.State != v1alpha1.StateCancel || got.Status.Phase != v1alpha1.PhaseRunning {
		t.Errorf("the driven run: state %s, phase %s; want its driver to end it", got.Spec.State, got.Status.Phase)
	}
	events, _ := st.Events("wrong-gate")
	if len(events) == 0 || events[0].Type != "CancelRequested" || !strings.HasSuffix(events[0].Message, ": wrong gate") {
		t.Errorf("audit: %+v", events)
	}
}

// TestStatusWatch: status --watch waits for a run to end and exits as run
// does, so a pipeline can branch on it; --timeout ends the wait with 3.
func TestStatusWatch(t *testing.T) {
	home := t.TempDir()
	st := &store.Store{Dir: home}
	for name, phase := range map[string]string{"done": v1alpha1.PhaseCompleted, "broke": v1alpha1.PhaseFailed, "back": v1alpha1.PhaseRolledBack,
		"called-off": v1alpha1.PhaseCancelled, "killed": v1alpha1.PhaseRunning, "slow": v1alpha1.PhaseRunning, "finishing": v1alpha1.PhaseRunning} {
		storeRun(t, st, name, &v1alpha1.UpdateRunStatus{Phase: phase, Message: "as it stands"})
	}
	defer driveRun(t, st, "slow")()
	defer driveRun(t, st, "finishing")()
	go func() {
		time.Sleep(time.Second)
		_ = st.SaveStatus("finishing", &v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseCompleted})
	}()
	checkCLI(t, home, []cliCase{
		{[]string{"status", "done", "--watch"}, ExitOK, "run done completed"},
		{[]string{"status", "broke", "-w"}, ExitFailed, "run broke failed: as it stands"},
		{[]string{"status", "back", "--watch"}, ExitRolledBack, "rolled back"},
		{[]string{"status", "called-off", "--watch"}, ExitStopped, "was cancelled"},
		{[]string{"status", "killed", "--watch"}, ExitStopped, "no process drives run killed"},
		{[]string{"status", "finishing", "--watch", "--timeout", "30s"}, ExitOK, "run finishing completed"},
		{[]string{"status", "slow", "--watch", "--timeout", "1s"}, exitcode.Timeout, "has not ended within the --timeout"},
		{[]string{"status", "slow", "--timeout", "1s"}, ExitUsage, "--timeout goes with --watch"},
		{[]string{"status", "ghost", "--watch"}, ExitUsage, "ghost"},
	})
}

// TestVersion: `upshift version -o json` says the Go version and the local
// fleet's Kubernetes versions, for bug reports and CI logs.
func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"version", "-o", "json"}, Streams{Out: &out, Err: &errOut}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var v VersionInfo
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Version == "" || !strings.HasPrefix(v.Go, "go1.") || len(v.LocalFleet) == 0 || !strings.HasPrefix(v.LocalFleet[0], "v1.") {
		t.Errorf("version: %+v", v)
	}
}

// TestScanChartFolder: a Helm chart's folder among -f is rendered, never
// read as plain YAML ("could not read" its templates, as Pluto without
// helm template would): clean, it exits 0 and says a chart was rendered;
// a removed API in a template exits 5 naming the template file and line,
// and --set changes what is rendered; a template that renders a kind
// without apiVersion is unreadable (exit 6, naming the template); --set
// without -f, or bad --set input, is bad input (exit 2); SARIF with no
// findings has rules: [], not null; an empty table prints no header.
func TestScanChartFolder(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"Chart.yaml":            "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
		"values.yaml":           "replicas: 3\nlegacy: false\n",
		"templates/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: {{ .Release.Name }}-web}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: web}}\n  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: nginx}]}}\n",
		"templates/old.yaml":    "{{- if .Values.legacy }}\n# kept for old clusters\napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: {{ .Release.Name }}-old}\nspec: {}\n{{- end }}\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	scan := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"scan", "apis", "--target-version", "1.34"}, args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, out.String(), errOut.String()
	}
	code, out, errOut := scan("-f", dir)
	if code != 0 || strings.Contains(out+errOut, "could not read:") || strings.Contains(out, "SEVERITY") {
		t.Errorf("clean chart: exit %d\nstdout %q\nstderr %q; want 0, no header, nothing unread", code, out, errOut)
	}
	if code, out, _ := scan("-f", dir, "-o", "json"); code != 0 || !strings.Contains(out, "1 Helm chart(s) rendered for 1.34") {
		t.Errorf("clean chart, JSON: exit %d, %s; want its sources to say the chart was rendered", code, out)
	}
	code, out, errOut = scan("-f", dir, "--set", "legacy=true")
	if want := filepath.Join(dir, "templates", "old.yaml") + ":3"; code != 5 || !strings.Contains(out, want) || !strings.Contains(out, "release-name-old") {
		t.Errorf("--set legacy=true: exit %d\nstdout %q\nstderr %q; want 5 naming %s", code, out, errOut, want)
	}
	code, out, _ = scan("-f", dir, "-o", "sarif")
	var sarif struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules json.RawMessage `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results json.RawMessage `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil || code != 0 || len(sarif.Runs) != 1 || string(sarif.Runs[0].Tool.Driver.Rules) != "[]" || string(sarif.Runs[0].Results) != "[]" {
		t.Errorf("SARIF without findings: exit %d, %v, rules %s, results %s", code, err, sarif.Runs[0].Tool.Driver.Rules, sarif.Runs[0].Results)
	}
	for _, args := range [][]string{{"--set", "legacy=true"}, {"-f", dir, "--set", "a.b"}} {
		if code, _, errOut := scan(args...); code != ExitUsage || !strings.Contains(errOut, "--set") {
			t.Errorf("%q: exit %d, stderr %q; want %d naming --set", args, code, errOut, ExitUsage)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "templates", "broken.yaml"), []byte("kind: Service\nmetadata: {name: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := scan("-f", dir); code != 6 || !strings.Contains(out+errOut, "broken.yaml:1: kind Service without apiVersion") {
		t.Errorf("a kind without apiVersion: exit %d, %q %q; want 6 naming it", code, out, errOut)
	}
}

// TestScanOnlyBinaryAgrees: upshift-scan (scancli.Main) answers as
// `upshift scan` does — the same report bytes and exit code on the same
// input, in every format — and, linking no providers, refuses --fleet as
// bad input rather than ignoring it.
func TestScanOnlyBinaryAgrees(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"old.yaml":    "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: shop, namespace: web}\nspec: {}\n---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: shop}\nspec: {}\n",
		"new.yaml":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n",
		"values.yaml": "replicas: 3\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(main func(context.Context, []string, Streams) int, args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, out.String()
	}
	for _, format := range []string{"table", "json", "yaml", "sarif", "junit"} {
		args := []string{"apis", "--target-version", "1.34", "-f", dir, "-o", format}
		wantCode, want := run(Main, append([]string{"scan"}, args...)...)
		code, got := run(scancli.Main, args...)
		if wantCode != 5 || !strings.Contains(want, "shop") {
			t.Fatalf("-o %s: upshift scan exit %d, %q: want 5 naming the removed Ingress", format, wantCode, want)
		}
		if code != wantCode || got != want {
			t.Errorf("-o %s: upshift-scan exit %d, want %d; output differs:\n%s\nwant:\n%s", format, code, wantCode, got, want)
		}
	}
	if code, _ := run(scancli.Main, "apis", "--target-version", "1.34", "--fleet", "fleet.yaml"); code != ExitUsage {
		t.Errorf("upshift-scan --fleet: exit %d, want %d (no fleet files without providers)", code, ExitUsage)
	}
}
