package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
)

func TestStore(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "r1"}, Spec: v1alpha1.UpdateRunSpec{State: v1alpha1.StateRun}}
	if err := s.Create(run); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(run); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second create: %v", err)
	}
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing run: %v", err)
	}
	if err := s.SaveStatus("r1", &v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseRunning}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState("r1", v1alpha1.StateStop); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("r1")
	if err != nil || got.Spec.State != v1alpha1.StateStop || got.Status.Phase != v1alpha1.PhaseRunning {
		t.Errorf("after stop: %+v, %v", got, err)
	}

	// One driver at a time.
	unlock, err := s.Lock("r1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock("r1"); !errors.Is(err, ErrLocked) {
		t.Errorf("second driver: %v", err)
	}
	unlock()

	// Approvals keep the first of each key; a line torn by a crash is skipped.
	for _, by := range []string{"alice", "bob"} {
		if err := s.Approve("r1", Approval{Key: "stage/prod", By: by, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.OpenFile(s.path("r1", "approvals.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"key":"stage/te`)
	f.Close()
	approvals, err := s.Approvals("r1")
	if err != nil || len(approvals) != 1 || approvals["stage/prod"].By != "alice" {
		t.Errorf("approvals: %+v, %v", approvals, err)
	}
	if err := s.Skip("r1", Approval{Key: "cluster/c1"}); err != nil {
		t.Fatal(err)
	}
	if skips, _ := s.Skips("r1"); !skips["cluster/c1"] {
		t.Errorf("skips: %v", skips)
	}
	if err := s.Approve("ghost", Approval{Key: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("approving a missing run: %v", err)
	}
	if st, _ := os.Stat(s.path("r1", "status.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("status mode %v", st.Mode().Perm())
	}
}

// TestCorruptStatus: a status.json damaged on disk never makes a run
// unmanageable. Get returns the spec with the status written before
// (status.prev.json) and says so; List shows the run as Unreadable
// instead of hiding it; stop and approvals still work.
func TestCorruptStatus(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "torn"}}
	if err := s.Create(run); err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{v1alpha1.PhaseRunning, v1alpha1.PhaseWaiting} {
		if err := s.SaveStatus("torn", &v1alpha1.UpdateRunStatus{Phase: phase}); err != nil {
			t.Fatal(err)
		}
	}
	statusFile := filepath.Join(s.Dir, "runs", "torn", "status.json")
	if err := os.WriteFile(statusFile, []byte(`{"phase": "Runn`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("torn")
	var corrupt *CorruptError
	if !errors.As(err, &corrupt) || !corrupt.Recovered || corrupt.File != statusFile || got == nil || got.Status.Phase != v1alpha1.PhaseRunning {
		t.Fatalf("Get of a torn status: %+v, %v; want the previous status (Running) and a recovered CorruptError naming the file", got, err)
	}
	runs, err := s.List()
	if err != nil || len(runs) != 1 || runs[0].Status.Phase != PhaseUnreadable || !strings.Contains(runs[0].Status.Message, "status.json") {
		t.Fatalf("List hides or misreports the run: %v %v", runs, err)
	}
	if err := s.SetState("torn", v1alpha1.StateStop); err != nil {
		t.Errorf("stop of a run with a torn status: %v", err)
	}
	if err := s.Approve("torn", Approval{Key: "stage/prod", By: "x"}); err != nil {
		t.Errorf("approval of a run with a torn status: %v", err)
	}
	// A new status write heals the run.
	if err := s.SaveStatus("torn", &v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseCompleted}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("torn"); err != nil || got.Status.Phase != v1alpha1.PhaseCompleted || got.Spec.State != v1alpha1.StateStop {
		t.Errorf("after a new write: %+v %v", got, err)
	}
	// With no earlier status there is nothing to go on from, and it says so.
	if err := s.Create(&v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "runs", "fresh", "status.json"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("fresh"); !errors.As(err, &corrupt) || corrupt.Recovered || !strings.Contains(err.Error(), "no earlier status") {
		t.Errorf("torn first status: %v", err)
	}
}

// TestCreateIsWhole: a run's folder appears with its spec or not at all.
// The empty folder an interrupted create used to leave (Get: not found;
// Create: exists, "resume it") is taken over; an existing run is refused,
// and a create leaves no hidden folder behind.
func TestCreateIsWhole(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(s.Dir, "runs", "killed"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("killed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an empty folder: %v", err)
	}
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "killed"}}
	if err := s.Create(run); err != nil {
		t.Fatalf("Create over the empty folder an interrupted create left: %v", err)
	}
	if got, err := s.Get("killed"); err != nil || got.Name != "killed" {
		t.Fatalf("Get after Create: %+v, %v", got, err)
	}
	if err := s.Create(run); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second Create: %v, want already exists", err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir, "runs"))
	if len(entries) != 1 {
		t.Errorf("runs/ holds %d entries, want the run alone: %v", len(entries), entries)
	}
}
