package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/providers/cluster/instant"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

// instantEngine drives runs over an instant provider and a file store:
// the engine alone, in milliseconds.
func instantEngine(t *testing.T, fleet []v1alpha1.Cluster) (*engine.Engine, *instant.Provider) {
	p := &instant.Provider{}
	return &engine.Engine{
		Store: &store.Store{Dir: t.TempDir()},
		Fleet: fleet,
		Poll:  20 * time.Millisecond,
		Resolve: func(c v1alpha1.Cluster) (*engine.Member, error) {
			return &engine.Member{Provider: p, Name: c.Name}, nil
		},
	}, p
}

// TestParkedWaits: with Park (a hub's engines), a stage's approval or
// soak that has not ended ends the drive instead of holding it: the run
// is Waiting, the drive returns a ParkedError saying until when, and no
// lock is held. Driving it again says nothing it said before, parks
// again while nothing changed, and goes on once the approval is given or
// the soak is over; a stop asked while parked stops it there, and a
// resume goes on from it.
func TestParkedWaits(t *testing.T) {
	ctx := context.Background()
	fleet := []v1alpha1.Cluster{member("dev-1", "dev"), member("prod-1", "prod")}
	e, p := instantEngine(t, fleet)
	e.Park = time.Second
	soak := 3 * time.Second
	prod := stage("prod", "prod")
	prod.BeforeStageTasks = []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval}}
	prod.AfterStageTasks = []v1alpha1.StageTask{{Type: v1alpha1.TaskTimedWait, WaitTime: &metav1.Duration{Duration: soak}}}
	run, strategy := newRun("parked", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, stage("dev", "dev"), prod)
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	st := e.Store.(*store.Store)
	events := func() int {
		evs, err := st.Events("parked")
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	parks := func(wantUntil bool) *v1alpha1.UpdateRun {
		t.Helper()
		got, err := e.Drive(ctx, "parked")
		var parked *engine.ParkedError
		if !errors.As(err, &parked) {
			t.Fatalf("drive: %v, want a ParkedError", err)
		}
		if parked.Until.IsZero() == wantUntil {
			t.Fatalf("parked until %v (%s)", parked.Until, parked.Why)
		}
		if got.Status.Phase != v1alpha1.PhaseWaiting {
			t.Fatalf("parked run is %s: %s", got.Status.Phase, got.Status.Message)
		}
		if unlock, err := st.Lock("parked"); err != nil {
			t.Fatalf("a parked run is still locked: %v", err)
		} else {
			unlock()
		}
		return got
	}

	// dev upgrades, then prod waits for its approval.
	got := parks(false)
	if got.Status.Stages[0].Phase != v1alpha1.PhaseCompleted || got.Status.Stages[1].BeforeTasks[0].Phase != v1alpha1.PhaseWaiting {
		t.Fatalf("after the first drive: %+v", got.Status.Stages)
	}
	if order := p.Order(); len(order) != 1 || order[0] != "dev-1" {
		t.Fatalf("upgraded before the approval: %v", order)
	}
	said := events()
	parks(false)
	parks(false)
	if n := events(); n != said {
		t.Errorf("driving a parked run again wrote %d audit events, want none", n-said)
	}

	// Approved: prod upgrades, then soaks.
	if err := st.Approve("parked", store.Approval{Key: store.StageKey("prod"), By: "release-manager", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	got = parks(true)
	if order := p.Order(); len(order) != 2 || order[1] != "prod-1" {
		t.Fatalf("after the approval: %v", order)
	}
	if tsk := got.Status.Stages[1].BeforeTasks[0]; tsk.Phase != v1alpha1.PhaseCompleted || tsk.ApprovedBy != "release-manager" {
		t.Errorf("approval task: %+v", tsk)
	}
	parks(true)
	time.Sleep(time.Until(began.Add(soak)) + 100*time.Millisecond)
	got, err := e.Drive(ctx, "parked")
	if err != nil || got.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("after the soak: %v, %s", err, got.Status.Phase)
	}

	// A stop asked while parked stops the run there; a resume goes on.
	run2, strategy2 := newRun("stopped", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, stage("dev", "dev"), prod)
	if _, err := e.Initialize(ctx, run2, strategy2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Drive(ctx, "stopped"); !errors.As(err, new(*engine.ParkedError)) {
		t.Fatalf("drive: %v", err)
	}
	if err := st.SetState("stopped", v1alpha1.StateStop); err != nil {
		t.Fatal(err)
	}
	got, err = e.Drive(ctx, "stopped")
	if !errors.Is(err, engine.ErrStopped) || got.Status.Phase != v1alpha1.PhaseStopped || got.Status.Stages[1].BeforeTasks[0].Phase != v1alpha1.PhaseStopped {
		t.Fatalf("stop while parked: %v, %s, %+v", err, got.Status.Phase, got.Status.Stages[1].BeforeTasks)
	}
	if err := st.SetState("stopped", v1alpha1.StateRun); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Drive(ctx, "stopped"); !errors.As(err, new(*engine.ParkedError)) {
		t.Fatalf("resume of a run stopped while parked: %v", err)
	}

	// Without Park, the same wait holds the drive until it ends.
	e2, _ := instantEngine(t, fleet)
	run3, strategy3 := newRun("held", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, stage("dev", "dev"), prod)
	if _, err := e2.Initialize(ctx, run3, strategy3); err != nil {
		t.Fatal(err)
	}
	if err := e2.Store.Approve("held", store.Approval{Key: store.StageKey("prod"), By: "release-manager", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got, err := e2.Drive(ctx, "held"); err != nil || got.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("without Park: %v", err)
	}
}

// TestParkedWindow: with Park, a cluster whose maintenance window opens
// later than Park from now parks its run until the opening; the other
// clusters of its stage go on meanwhile, and the run, driven again once
// the window is open, upgrades it.
func TestParkedWindow(t *testing.T) {
	ctx := context.Background()
	e, p := instantEngine(t, []v1alpha1.Cluster{windowed(member("a1", "a")), member("a2", "a")})
	e.Park = time.Minute
	c := &clock{t: at("01:00")}
	e.Now = c.now
	s := stage("a", "a")
	s.MaxConcurrency = one()
	run, strategy := newRun("window", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, s)
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	st := e.Store.(*store.Store)
	for i := range 2 {
		got, err := e.Drive(ctx, "window")
		var parked *engine.ParkedError
		if !errors.As(err, &parked) || !parked.Until.Equal(at("02:00")) || got.Status.Phase != v1alpha1.PhaseWaiting {
			t.Fatalf("drive %d: %v (%s)", i, err, got.Status.Phase)
		}
		if order := p.Order(); len(order) != 1 || order[0] != "a2" {
			t.Fatalf("drive %d upgraded %v, want a2 alone while a1's window is closed", i, order)
		}
		if cs := clusterStatus(got, "a1"); cs.Steps[0].Phase != v1alpha1.PhaseWaiting {
			t.Fatalf("a1's first step: %s", cs.Steps[0].Phase)
		}
	}
	evs, _ := st.Events("window")
	waits := 0
	for _, ev := range evs {
		if ev.Type == "Waiting" {
			waits++
		}
	}
	if waits != 1 {
		t.Errorf("%d Waiting events for one closed window, want 1", waits)
	}
	c.set(at("02:30"))
	// While a1 upgrades, the run is Running again, not Waiting.
	woke := make(chan string, 1)
	e.Progress = func(ev engine.Event) {
		if ev.Cluster == "a1" && ev.Type == "Started" && ev.Step != "" {
			if r, err := st.Get("window"); err == nil {
				select {
				case woke <- r.Status.Phase:
				default:
				}
			}
		}
	}
	got, err := e.Drive(ctx, "window")
	if err != nil || got.Status.Phase != v1alpha1.PhaseCompleted || len(p.Order()) != 2 {
		t.Fatalf("with the window open: %v, %s, upgraded %v", err, got.Status.Phase, p.Order())
	}
	select {
	case phase := <-woke:
		if phase != v1alpha1.PhaseRunning {
			t.Errorf("the run is %s while a1's step runs, want Running", phase)
		}
	default:
		t.Error("a1's step never started")
	}
}

// TestParkedInsideAStep: with Park, a wait inside a cluster's step (an
// Approval gate, a TimedWait gate) parks the run as a stage's does. The
// cluster keeps its place: with maxConcurrency 1 the next cluster does
// not start while it is half-way. Driving it again says nothing twice and
// counts no new attempt; the approval, then the soak's end, let it go on.
func TestParkedInsideAStep(t *testing.T) {
	ctx := context.Background()
	e, p := instantEngine(t, []v1alpha1.Cluster{member("prod-1", "prod"), member("prod-2", "prod")})
	e.Park = time.Second
	soak := 2 * time.Second
	s := stage("prod", "prod")
	s.MaxConcurrency = one()
	run, strategy := newRun("in-step", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, s)
	run.Spec.Gates.Preflight = []v1alpha1.GateSpec{{Name: "change-ticket", Type: v1alpha1.GateApproval}}
	run.Spec.Gates.PostUpgrade = []v1alpha1.GateSpec{{Name: "settle", Type: v1alpha1.GateTimedWait, Duration: &metav1.Duration{Duration: soak}}}
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	st := e.Store.(*store.Store)
	drive := func(wantUntil bool) *v1alpha1.UpdateRun {
		t.Helper()
		got, err := e.Drive(ctx, "in-step")
		var parked *engine.ParkedError
		if !errors.As(err, &parked) || parked.Until.IsZero() == wantUntil || got.Status.Phase != v1alpha1.PhaseWaiting {
			t.Fatalf("drive: %v (%s), want parked (until set: %v)", err, got.Status.Phase, wantUntil)
		}
		if unlock, err := st.Lock("in-step"); err != nil {
			t.Fatalf("a parked run is still locked: %v", err)
		} else {
			unlock()
		}
		return got
	}
	step := func(r *v1alpha1.UpdateRun, cluster string, k int) v1alpha1.StepStatus {
		return clusterStatus(r, cluster).Steps[k]
	}
	events := func() int {
		evs, err := st.Events("in-step")
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}

	got := drive(false)
	pre := step(got, "prod-1", 0)
	if pre.Phase != v1alpha1.PhaseWaiting || !strings.Contains(pre.Message, "upshift approve in-step --cluster prod-1 --gate change-ticket") {
		t.Fatalf("prod-1's preflight: %s %q", pre.Phase, pre.Message)
	}
	if w := engine.WaitingGateApprovals(got); len(w) != 1 || w[0] != (engine.GateApproval{Stage: "prod", Cluster: "prod-1", Gate: "change-ticket"}) {
		t.Errorf("waiting gate approvals %+v, want prod-1's change-ticket", w)
	}
	if c := clusterStatus(got, "prod-2"); c.Phase != v1alpha1.PhaseNotStarted {
		t.Fatalf("prod-2 is %s while prod-1 waits half-way under maxConcurrency 1", c.Phase)
	}
	said := events()
	drive(false)
	got = drive(false)
	if n := events(); n != said {
		t.Errorf("driving a run parked in a step again wrote %d audit events, want none", n-said)
	}
	if a := step(got, "prod-1", 0).Attempts; a != 1 {
		t.Errorf("prod-1's preflight counts %d attempts after two drives that found it parked, want 1", a)
	}

	// Approved: prod-1 upgrades, then parks in its post-upgrade soak.
	if err := st.Approve("in-step", store.Approval{Key: store.ClusterGateKey("prod-1", "change-ticket"), By: "oncall", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	got = drive(true)
	if order := p.Order(); len(order) != 1 || order[0] != "prod-1" {
		t.Fatalf("after the approval: upgraded %v", order)
	}
	if w := engine.WaitingGateApprovals(got); len(w) != 0 {
		t.Errorf("waiting gate approvals %+v after the approval, want none", w)
	}
	_, first := e.Drive(ctx, "in-step")
	_, again := e.Drive(ctx, "in-step")
	var p1, p2 *engine.ParkedError
	if !errors.As(first, &p1) || !errors.As(again, &p2) || !p1.Until.Equal(p2.Until) {
		t.Fatalf("the soak parked until %v, then %v: it must count from when it began, kept with the step", first, again)
	}
	last := len(clusterStatus(got, "prod-1").Steps) - 1
	if post := step(got, "prod-1", last); post.Phase != v1alpha1.PhaseWaiting || !strings.Contains(post.Message, "gate settle waits until") {
		t.Fatalf("prod-1's post-upgrade step: %s %q", post.Phase, post.Message)
	}
	if c := clusterStatus(got, "prod-2"); c.Phase != v1alpha1.PhaseNotStarted {
		t.Fatalf("prod-2 is %s while prod-1 soaks", c.Phase)
	}
	time.Sleep(soak)
	// The soak is over: prod-1 completes, and prod-2 takes its place and
	// waits for its own approval.
	got = drive(false)
	if c := clusterStatus(got, "prod-1"); c.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("prod-1 after its soak: %s", c.Phase)
	}
	if pre := step(got, "prod-2", 0); pre.Phase != v1alpha1.PhaseWaiting {
		t.Fatalf("prod-2's preflight: %s", pre.Phase)
	}

	// A stop while parked in a step stops the cluster there; a resume
	// takes it up again.
	if err := st.SetState("in-step", v1alpha1.StateStop); err != nil {
		t.Fatal(err)
	}
	got, err := e.Drive(ctx, "in-step")
	if !errors.Is(err, engine.ErrStopped) || clusterStatus(got, "prod-2").Phase != v1alpha1.PhaseStopped || step(got, "prod-2", 0).Phase != v1alpha1.PhaseStopped {
		t.Fatalf("stop while parked in a step: %v, prod-2 %s", err, clusterStatus(got, "prod-2").Phase)
	}
	if err := st.SetState("in-step", v1alpha1.StateRun); err != nil {
		t.Fatal(err)
	}
	if err := st.Approve("in-step", store.Approval{Key: store.ClusterGateKey("prod-2", "change-ticket"), By: "oncall", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.Park = 0 // the CLI: the soak is waited out in place
	got, err = e.Drive(ctx, "in-step")
	if err != nil || got.Status.Phase != v1alpha1.PhaseCompleted || len(p.Order()) != 2 {
		t.Fatalf("resumed: %v, %s, upgraded %v", err, got.Status.Phase, p.Order())
	}
}

// TestGateWaitsCountFromTheirOwnStart: a step's waiting gates count from
// when each began to wait, kept in the step's status: an approval's
// timeout behind a soak starts once the soak is over, not with the step.
func TestGateWaitsCountFromTheirOwnStart(t *testing.T) {
	ctx := context.Background()
	e, _ := instantEngine(t, []v1alpha1.Cluster{member("dev-1", "dev")})
	soak := 1500 * time.Millisecond
	run, strategy := newRun("waits", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, stage("dev", "dev"))
	run.Spec.Gates.Preflight = []v1alpha1.GateSpec{
		{Name: "settle", Type: v1alpha1.GateTimedWait, Duration: &metav1.Duration{Duration: soak}},
		{Name: "ok", Type: v1alpha1.GateApproval, Timeout: &metav1.Duration{Duration: time.Second}},
	}
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan v1alpha1.StepStatus, 1)
	go func() {
		time.Sleep(soak + 600*time.Millisecond) // past a timeout counted from the step's start
		if r, err := e.Store.Get("waits"); err == nil {
			waiting <- clusterStatus(r, "dev-1").Steps[0]
		}
		_ = e.Store.Approve("waits", store.Approval{Key: store.ClusterGateKey("dev-1", "ok"), By: "oncall", Time: time.Now()})
	}()
	got, err := e.Drive(ctx, "waits")
	if err != nil || got.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("drive: %v\n%+v", err, clusterStatus(got, "dev-1").Steps[0])
	}
	// Waited in place, as the CLI does: the step said for what, and how
	// to end it, then went on.
	approve := "upshift approve waits --cluster dev-1 --gate ok"
	if pre := <-waiting; pre.Phase != v1alpha1.PhaseWaiting || !strings.Contains(pre.Message, approve) {
		t.Errorf("while the gate waited the step was %s %q, want Waiting with %q", pre.Phase, pre.Message, approve)
	}
	evs, _ := e.Store.(*store.Store).Events("waits")
	if !slices.ContainsFunc(evs, func(ev store.Event) bool {
		return ev.Type == "Waiting" && ev.Command == approve && ev.Cluster == "dev-1"
	}) {
		t.Errorf("no Waiting event with %q", approve)
	}
	// The soak's start is kept; the approval, once given, is not.
	if waits := clusterStatus(got, "dev-1").Steps[0].GateWaits; len(waits) != 1 || waits[0].Gate != "settle" {
		t.Errorf("the preflight step keeps %+v, want the soak alone", waits)
	}
}

// TestParkedChecks: with Park, a check retried at an interval longer than
// Park parks between its attempts ("look again at T") instead of
// sleeping: the step keeps its failures and the next attempt's time, a
// drive before that time tries nothing, and the attempts go on across
// drives until it passes (what was kept is then dropped) or reaches its
// failure threshold.
func TestParkedChecks(t *testing.T) {
	ctx := context.Background()
	var hits atomic.Int32
	okFrom := int32(3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) < okFrom {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	interval := 1500 * time.Millisecond
	ready := func(threshold int) v1alpha1.GateSpec {
		return v1alpha1.GateSpec{Name: "ready", Type: v1alpha1.GateHTTP, Interval: &metav1.Duration{Duration: interval}, FailureThreshold: threshold,
			Timeout: &metav1.Duration{Duration: time.Minute}, HTTP: &v1alpha1.HTTPGate{URL: srv.URL}}
	}
	e, _ := instantEngine(t, []v1alpha1.Cluster{member("dev-1", "dev")})
	e.Park = time.Second
	start := func(name string, g v1alpha1.GateSpec) {
		run, strategy := newRun(name, v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, stage("dev", "dev"))
		run.Spec.Gates.Preflight = []v1alpha1.GateSpec{g}
		if _, err := e.Initialize(ctx, run, strategy); err != nil {
			t.Fatal(err)
		}
	}
	parks := func(name string, failures int) (*engine.ParkedError, v1alpha1.StepStatus) {
		t.Helper()
		got, err := e.Drive(ctx, name)
		var parked *engine.ParkedError
		if !errors.As(err, &parked) || parked.Until.IsZero() {
			t.Fatalf("drive: %v, want parked until the next attempt", err)
		}
		pre := clusterStatus(got, "dev-1").Steps[0]
		if len(pre.GateWaits) != 1 || pre.GateWaits[0].Failures != failures || !strings.Contains(pre.Message, fmt.Sprintf("gate ready failed %d of", failures)) {
			t.Fatalf("the preflight step keeps %+v, says %q; want %d failure(s)", pre.GateWaits, pre.Message, failures)
		}
		return parked, pre
	}

	start("checks", ready(5))
	first, _ := parks("checks", 1)
	if again, _ := parks("checks", 1); !again.Until.Equal(first.Until) || hits.Load() != 1 {
		t.Fatalf("driven again before the next attempt was due: parked until %v (want %v), %d attempts made (want 1)", again.Until, first.Until, hits.Load())
	}
	time.Sleep(time.Until(first.Until))
	second, _ := parks("checks", 2)
	time.Sleep(time.Until(second.Until))
	got, err := e.Drive(ctx, "checks")
	if err != nil || got.Status.Phase != v1alpha1.PhaseCompleted || hits.Load() != 3 {
		t.Fatalf("the third attempt: %v, %s, %d attempts made", err, got.Status.Phase, hits.Load())
	}
	if pre := clusterStatus(got, "dev-1").Steps[0]; len(pre.GateWaits) != 0 {
		t.Errorf("a passed check is still kept: %+v", pre.GateWaits)
	}

	// A check that keeps failing fails at its threshold, across drives.
	okFrom = 1 << 30
	start("failing", ready(2))
	first, _ = parks("failing", 1)
	time.Sleep(time.Until(first.Until))
	got, err = e.Drive(ctx, "failing")
	if !errors.Is(err, engine.ErrFailed) || !strings.Contains(clusterStatus(got, "dev-1").Steps[0].Message, "2 failed attempt(s), the threshold") {
		t.Fatalf("at its threshold: %v, %q", err, clusterStatus(got, "dev-1").Steps[0].Message)
	}
}

// TestParkedGateTask: a stage's Gate task (after its clusters) of type
// Approval parks like an Approval task, says once how to give it, and
// goes on once given.
func TestParkedGateTask(t *testing.T) {
	ctx := context.Background()
	e, p := instantEngine(t, []v1alpha1.Cluster{member("dev-1", "dev")})
	e.Park = time.Second
	s := stage("dev", "dev")
	s.AfterStageTasks = []v1alpha1.StageTask{{Type: v1alpha1.TaskGate, Name: "cab", Gate: &v1alpha1.GateSpec{Name: "cab", Type: v1alpha1.GateApproval}}}
	run, strategy := newRun("gate-task", v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: toolchain.Latest().Minor}, s)
	if _, err := e.Initialize(ctx, run, strategy); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := e.Drive(ctx, "gate-task")
		if !errors.As(err, new(*engine.ParkedError)) || got.Status.Phase != v1alpha1.PhaseWaiting {
			t.Fatalf("drive: %v (%s)", err, got.Status.Phase)
		}
		if tsk := got.Status.Stages[0].AfterTasks[0]; tsk.Phase != v1alpha1.PhaseWaiting || !strings.Contains(tsk.Message, "upshift approve gate-task --stage dev") {
			t.Fatalf("the gate task: %s %q", tsk.Phase, tsk.Message)
		}
	}
	evs, _ := e.Store.(*store.Store).Events("gate-task")
	waits := 0
	for _, ev := range evs {
		if ev.Type == "Waiting" {
			waits++
		}
	}
	if waits != 1 || len(p.Order()) != 1 {
		t.Errorf("%d Waiting events (want 1), upgraded %v", waits, p.Order())
	}
	if err := e.Store.Approve("gate-task", store.Approval{Key: store.StageKey("dev"), By: "cab", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Drive(ctx, "gate-task"); err != nil || got.Status.Phase != v1alpha1.PhaseCompleted {
		t.Fatalf("after the approval: %v", err)
	}
}
