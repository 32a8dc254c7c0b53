package testfleet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

// CrashRound is one round of a crash campaign.
type CrashRound struct {
	// Killed: the run was still going when the kill came (else it had
	// already completed, and the round only checks the end state).
	Killed bool
	// At is when the kill came, after the run started.
	At time.Duration
	// Step is the step the status showed running at the kill ("" before
	// the first step or between steps).
	Step string
}

// NotRecorded is CrashRound.Step for a kill that came before the run
// was stored: there is nothing to resume, and `upshift run` starts it.
const NotRecorded = "(before the run was recorded)"

// CrashCampaign runs rounds of: a fresh cluster one minor below the
// latest with a pool of 5 nodes; `upshift run` moving it to the latest
// (control plane, then the pool one node at a time), SIGKILLed at a
// moment drawn uniformly from [0, window); `upshift resume` to the end
// (or `upshift run` again, when the kill came before the run was stored).
// Every round must end right, counted from the cluster itself: the run
// Completed, the control plane on the target with its API server started
// exactly twice (created, upgraded once), the pool at its size, and
// every node that ever ran the target one of the pool's final nodes (none
// replaced twice). The seed is logged so that a failing round can be
// replayed (UPSHIFT_CRASH_SEED).
func CrashCampaign(t testing.TB, rounds int, window time.Duration) []CrashRound {
	t.Helper()
	return campaign(t, "in-place", "crash", rounds, window, crashRound)
}

// campaign runs rounds of one kind, each killed at a moment drawn
// uniformly from [0, window) by a generator whose seed it logs.
func campaign(t testing.TB, kind, prefix string, rounds int, window time.Duration, round func(t testing.TB, name string, at time.Duration) CrashRound) []CrashRound {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("UPSHIFT_CRASH_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("UPSHIFT_CRASH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("%s crash campaign: %d rounds, kills within %s, seed %d", kind, rounds, window, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	out := make([]CrashRound, 0, rounds)
	for i := range rounds {
		out = append(out, round(t, fmt.Sprintf("%s-%d", prefix, i), time.Duration(rng.Int64N(int64(window)))))
	}
	return out
}

func crashRound(t testing.TB, name string, at time.Duration) CrashRound {
	t.Helper()
	const poolSize = 5
	f := Fleet(t)
	lower, target := toolchain.Previous(), toolchain.Latest()
	c, err := f.Up(t.Context(), localfleet.Spec{Name: name, KubernetesVersion: lower.Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: poolSize}}})
	if err != nil {
		t.Fatalf("local up %s: %v", name, err)
	}
	// Each round's cluster goes when the round ends: a long campaign
	// holds one at a time.
	defer func() { _ = f.Down(name) }()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	seen := NodesAt(t, client, target.Version)
	dir := t.TempDir()
	fleetFile, runFile := filepath.Join(dir, "fleet.yaml"), filepath.Join(dir, "run.yaml")
	files := map[string]string{
		fleetFile: fmt.Sprintf("apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: %s}\nspec: {provider: local, group: all, local: {name: %s}}\n", name, name),
		runFile: fmt.Sprintf("apiVersion: upshift.dev/v1alpha1\nkind: UpdateRun\nmetadata: {name: %s}\nspec:\n  strategy: {stages: [{name: all, groups: [{name: all}]}]}\n"+
			"  upgrade: {type: Full, kubernetesVersion: %q}\n  nodeUpgrade: {maxSurge: 1, drainTimeout: 1m}\n", name, target.Minor),
	}
	for path, data := range files {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runs := &store.Store{Dir: f.Home}
	round := killAndResume(t, name, at, runs, "run", "-f", runFile, "--fleet", fleetFile, "--home", f.Home)
	run, err := runs.Get(name)
	if err != nil || run.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("round %s: the run is not Completed after a kill at %s (%s): %v\n%s", name, at, round.Step, err, StatusOf(run))
	}
	if v, err := client.Discovery().ServerVersion(); err != nil || v.GitVersion != target.Version {
		t.Errorf("round %s: the control plane runs %v (%v), want %s", name, v, err, target.Version)
	}
	log, err := os.ReadFile(filepath.Join(LogDir(c), "kube-apiserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "Serving securely on"); n != 2 {
		t.Errorf("round %s (killed at %s, in %q): the API server started %d times, want 2", name, at, round.Step, n)
	}
	nodes, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: localfleet.LabelNodePool + "=user"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != poolSize {
		t.Errorf("round %s (killed at %s, in %q): the pool has %d nodes, want %d", name, at, round.Step, len(nodes.Items), poolSize)
	}
	final := map[string]bool{}
	for _, n := range nodes.Items {
		final[n.Name] = true
	}
	for n := range seen() {
		if !final[n] {
			t.Errorf("round %s (killed at %s, in %q): node %s ran %s and was removed: a replacement was done twice", name, at, round.Step, n, target.Version)
		}
	}
	return round
}

// killAndResume starts the CLI with args (a command that starts run
// name), SIGKILLs it at the moment at, then resumes the run to its end (or
// starts it again, when the kill came before the run was stored: there is
// nothing to resume, and the user starts it again).
func killAndResume(t testing.TB, name string, at time.Duration, runs *store.Store, args ...string) CrashRound {
	t.Helper()
	round := CrashRound{At: at}
	cmd := CLI(args...)
	var said SyncBuffer
	cmd.Stdout, cmd.Stderr = &said, &said
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("round %s: the run failed before the kill: %v\n%s", name, err, said.String())
		}
	case <-time.After(at):
		_ = cmd.Process.Kill()
		err := <-exited
		var exit *exec.ExitError
		round.Killed = errors.As(err, &exit) && exit.ExitCode() == -1
		run, err := runs.Get(name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			round.Step = NotRecorded
		case err == nil:
			round.Step = running(run)
		}
	}
	if round.Killed {
		again := []string{"resume", name, "--home", runs.Dir}
		if round.Step == NotRecorded {
			again = args
		}
		if out, err := CLI(again...).CombinedOutput(); err != nil {
			run, _ := runs.Get(name)
			t.Fatalf("round %s: resume after a kill at %s (%s): %v\n%s\n%s", name, at, round.Step, err, out, StatusOf(run))
		}
	}
	return round
}

// running is the kind of step the run's status shows running.
func running(run *v1alpha1.UpdateRun) string {
	for _, st := range run.Status.Stages {
		for _, c := range st.Clusters {
			for _, s := range c.Steps {
				if s.Phase == v1alpha1.PhaseRunning {
					return s.Kind
				}
			}
		}
	}
	return ""
}
