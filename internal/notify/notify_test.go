package notify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/notify"
	"upshift.dev/upshift/internal/store"
)

// receiver is a local webhook that answers with codes in turn (200 once
// they run out) and keeps what it got, by path.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	codes  []int
	bodies map[string][]map[string]any
	hold   chan struct{}
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes, bodies: map[string][]map[string]any{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.hold != nil {
			select {
			case <-r.hold:
			case <-req.Context().Done():
				return
			}
		}
		var body map[string]any
		_ = json.NewDecoder(req.Body).Decode(&body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], body)
		if len(r.codes) > 0 {
			w.WriteHeader(r.codes[0])
			r.codes = r.codes[1:]
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got(path string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[path]
}

// audit collects audit events.
type audit struct {
	mu     sync.Mutex
	events []store.Event
}

func (a *audit) add(ev store.Event) { a.mu.Lock(); a.events = append(a.events, ev); a.mu.Unlock() }

func (a *audit) text() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b strings.Builder
	for _, ev := range a.events {
		b.WriteString(ev.Type + ": " + ev.Message + "\n")
	}
	return b.String()
}

var fast = notify.Retry{Attempts: 3, Wait: 10 * time.Millisecond}

func runWith(sinks ...v1alpha1.NotificationSink) *v1alpha1.UpdateRun {
	return &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "fleet-137"}, Spec: v1alpha1.UpdateRunSpec{Notifications: sinks}}
}

var approval = notify.Notification{Kind: v1alpha1.NotifyApprovalNeeded, Run: "fleet-137", Stage: "production", Message: "waiting for approval of stage production",
	Command: "upshift approve fleet-137 --stage production", Time: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}

func TestFormats(t *testing.T) {
	r := newReceiver(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "slack-url"), []byte(r.URL+"/services/T0/B0/secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var a audit
	n, err := notify.New(runWith(
		v1alpha1.NotificationSink{Name: "json", URL: r.URL + "/json"},
		v1alpha1.NotificationSink{Name: "slack", URLFile: "slack-url", Format: v1alpha1.NotifyFormatSlack},
		v1alpha1.NotificationSink{Name: "teams", URL: r.URL + "/teams", Format: v1alpha1.NotifyFormatTeams, Events: []string{v1alpha1.NotifyApprovalNeeded}},
		v1alpha1.NotificationSink{Name: "failures-only", URL: r.URL + "/failures", Events: []string{v1alpha1.NotifyStepFailed}},
	), dir, a.add, fast)
	if err != nil {
		t.Fatal(err)
	}
	n.Send(approval)
	n.Close(context.Background())
	if got := r.got("/json"); len(got) != 1 || got[0]["kind"] != "ApprovalNeeded" || got[0]["command"] != approval.Command || got[0]["stage"] != "production" {
		t.Errorf("JSON sink got %v", got)
	}
	if got := r.got("/services/T0/B0/secret"); len(got) != 1 || !strings.Contains(got[0]["text"].(string), "`upshift approve fleet-137 --stage production`") {
		t.Errorf("Slack sink got %v", got)
	}
	if got := r.got("/teams"); len(got) != 1 || got[0]["@type"] != "MessageCard" || !strings.Contains(got[0]["text"].(string), approval.Command) {
		t.Errorf("Teams sink got %v", got)
	}
	if got := r.got("/failures"); len(got) != 0 {
		t.Errorf("a sink for StepFailed only got %v", got)
	}
	if log := a.text(); strings.Count(log, "Notified: ") != 3 || strings.Contains(log, "secret") || strings.Contains(log, r.URL) {
		t.Errorf("audit:\n%s", log)
	}
}

func TestRetries(t *testing.T) {
	r := newReceiver(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	var a audit
	n, _ := notify.New(runWith(v1alpha1.NotificationSink{Name: "hook", URL: r.URL + "/h"}), "", a.add, fast)
	n.Send(approval)
	n.Close(context.Background())
	if len(r.got("/h")) != 3 || !strings.Contains(a.text(), "sink hook: ApprovalNeeded delivered (attempt 3)") {
		t.Errorf("got %d posts; audit:\n%s", len(r.got("/h")), a.text())
	}

	// A refusal that a retry will not change is not retried; a sink that
	// keeps failing is given up after its attempts.
	refused := newReceiver(t, http.StatusNotFound)
	down := newReceiver(t, 500, 500, 500, 500)
	a = audit{}
	n, _ = notify.New(runWith(v1alpha1.NotificationSink{Name: "wrong", URL: refused.URL + "/x"}, v1alpha1.NotificationSink{Name: "down", URL: down.URL + "/y"}), "", a.add, fast)
	n.Send(approval)
	n.Close(context.Background())
	log := a.text()
	if len(refused.got("/x")) != 1 || !strings.Contains(log, "sink wrong: ApprovalNeeded refused: 404 Not Found (not retried") {
		t.Errorf("refused: %d posts; audit:\n%s", len(refused.got("/x")), log)
	}
	if len(down.got("/y")) != 3 || !strings.Contains(log, "sink down: ApprovalNeeded not delivered after 3 attempts: 500 Internal Server Error") {
		t.Errorf("down: %d posts; audit:\n%s", len(down.got("/y")), log)
	}
}

// TestNeverBlocks: a receiver that never answers holds up neither Send
// (the queue drops what overflows, and says so) nor, past its deadline,
// Close.
func TestNeverBlocks(t *testing.T) {
	r := newReceiver(t)
	r.hold = make(chan struct{})
	defer close(r.hold)
	var a audit
	n, _ := notify.New(runWith(v1alpha1.NotificationSink{Name: "stuck", URL: r.URL + "/s"}), "", a.add, fast)
	start := time.Now()
	for range 400 {
		n.Send(approval)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("400 sends took %s", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	n.Close(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %s past its deadline", took)
	}
	log := a.text()
	if !strings.Contains(log, "NotifyDropped: ApprovalNeeded dropped: 256 notifications already wait") || !strings.Contains(log, "not delivered before upshift exited") {
		t.Errorf("audit:\n%s", log[:min(len(log), 2000)])
	}
}

func TestFromEvent(t *testing.T) {
	for _, tc := range []struct {
		ev   store.Event
		kind string
	}{
		{store.Event{Type: "Started", Message: "driving run r"}, v1alpha1.NotifyRunStarted},
		{store.Event{Type: "Started", Stage: "dev", Message: "stage dev: 1 cluster(s)"}, ""},
		{store.Event{Type: "Completed", Stage: "dev", Message: "stage dev completed"}, v1alpha1.NotifyStageCompleted},
		{store.Event{Type: "Completed", Stage: "dev", Cluster: "a", Step: "ControlPlane v1.37.2"}, ""},
		{store.Event{Type: "Waiting", Stage: "prod", Step: "sign-off", Command: "upshift approve r --stage prod"}, v1alpha1.NotifyApprovalNeeded},
		{store.Event{Type: "Waiting", Stage: "dev", Step: "soak", Message: "soaking for 1h"}, ""},
		{store.Event{Type: "Failed", Stage: "dev", Cluster: "a", Message: "step NodePool user: …"}, v1alpha1.NotifyStepFailed},
		{store.Event{Type: "Failed", Message: "stage dev: …"}, v1alpha1.NotifyRunFailed},
		{store.Event{Type: "RolledBack", Stage: "prod", Cluster: "shop", Step: "T3-Canary 1"}, v1alpha1.NotifyRolledBack},
		{store.Event{Type: "Completed", Message: "every stage completed"}, v1alpha1.NotifyRunCompleted},
		{store.Event{Type: "Progress", Stage: "dev", Cluster: "a", Message: "draining"}, ""},
		{store.Event{Type: "Escalated", Stage: "dev", Cluster: "a", Message: "deleting pod pay/ledger-1 on user-1 after 30m: …"}, v1alpha1.NotifyEscalated},
	} {
		n, ok := notify.FromEvent("r", tc.ev)
		if ok != (tc.kind != "") || n.Kind != tc.kind {
			t.Errorf("%+v: %q %v, want %q", tc.ev, n.Kind, ok, tc.kind)
		}
	}
}
