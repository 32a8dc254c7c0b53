package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/store"
)

// Notification is one event worth telling people about.
type Notification struct {
	Kind    string    `json:"kind"`
	Run     string    `json:"run"`
	Stage   string    `json:"stage,omitempty"`
	Cluster string    `json:"cluster,omitempty"`
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message"`
	Command string    `json:"command,omitempty"`
	Time    time.Time `json:"time"`
}

// FromEvent says which notification, if any, an engine event of run is.
func FromEvent(run string, ev store.Event) (Notification, bool) {
	n := Notification{Run: run, Stage: ev.Stage, Cluster: ev.Cluster, Step: ev.Step, Message: ev.Message, Command: ev.Command, Time: ev.Time}
	whole := ev.Stage == "" && ev.Cluster == ""
	switch {
	case ev.Command != "":
		n.Kind = v1alpha1.NotifyApprovalNeeded
	case ev.Type == "Started" && whole:
		n.Kind = v1alpha1.NotifyRunStarted
	case ev.Type == "Completed" && whole:
		n.Kind = v1alpha1.NotifyRunCompleted
	case ev.Type == "Completed" && ev.Cluster == "" && ev.Step == "":
		n.Kind = v1alpha1.NotifyStageCompleted
	case ev.Type == v1alpha1.PhaseFailed && ev.Cluster != "":
		n.Kind = v1alpha1.NotifyStepFailed
	case ev.Type == v1alpha1.PhaseFailed && whole:
		n.Kind = v1alpha1.NotifyRunFailed
	case ev.Type == v1alpha1.PhaseRolledBack && ev.Cluster != "":
		n.Kind = v1alpha1.NotifyRolledBack
	case ev.Type == v1alpha1.EventEscalated:
		n.Kind = v1alpha1.NotifyEscalated
	default:
		return Notification{}, false
	}
	return n, true
}

// Retry paces deliveries: attempts in all, the first wait, doubled each
// time.
type Retry struct {
	Attempts int
	Wait     time.Duration
}

// DefaultRetry tries 5 times over about 15 seconds.
var DefaultRetry = Retry{Attempts: 5, Wait: time.Second}

// sink is a configured webhook.
type sink struct {
	name, url, format string
	events            []string
}

// Notifier delivers a run's notifications in the background.
type Notifier struct {
	run    string
	sinks  []sink
	audit  func(store.Event)
	client *http.Client
	retry  Retry
	queue  chan Notification
	wg     sync.WaitGroup
	// ctx ends deliveries under way when Close gives up on them.
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// queueSize bounds the notifications waiting; past it, new ones are
// dropped (and the drop audited) rather than holding the run up.
const queueSize = 256

// New prepares the run's sinks, reading URL files relative to dir (the
// run file's folder), and starts delivering. audit records deliveries.
func New(run *v1alpha1.UpdateRun, dir string, audit func(store.Event), retry Retry) (*Notifier, error) {
	n := &Notifier{run: run.Name, audit: audit, client: &http.Client{Timeout: 10 * time.Second}, retry: retry,
		queue: make(chan Notification, queueSize)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, s := range run.Spec.Notifications {
		u := s.URL
		if s.URLSecretRef != nil && u == "" {
			return nil, fmt.Errorf("notification sink %s: urlSecretRef is read by a hub only: give urlFile here", s.Name)
		}
		if s.URLFile != "" {
			path := s.URLFile
			if !filepath.IsAbs(path) && dir != "" {
				path = filepath.Join(dir, path)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("notification sink %s: reading its urlFile: %w", s.Name, err)
			}
			u = strings.TrimSpace(string(data))
			if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
				return nil, fmt.Errorf("notification sink %s: %s does not hold an http(s) URL", s.Name, path)
			}
		}
		format := s.Format
		if format == "" {
			format = v1alpha1.NotifyFormatJSON
		}
		n.sinks = append(n.sinks, sink{name: s.Name, url: u, format: format, events: s.Events})
	}
	n.wg.Add(1)
	go n.deliver()
	return n, nil
}

// Send queues a notification for the sinks that want it; it never waits.
func (n *Notifier) Send(no Notification) {
	if n == nil || len(n.sinks) == 0 {
		return
	}
	select {
	case n.queue <- no:
	default:
		n.record("NotifyDropped", fmt.Sprintf("%s dropped: %d notifications already wait for delivery", no.Kind, queueSize))
	}
}

// Close delivers what is queued until ctx ends, then stops.
func (n *Notifier) Close(ctx context.Context) {
	if n == nil {
		return
	}
	n.once.Do(func() { close(n.queue) })
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel()
		<-done
	}
	n.cancel()
}

func (n *Notifier) deliver() {
	defer n.wg.Done()
	for no := range n.queue {
		for _, s := range n.sinks {
			if len(s.events) > 0 && !slices.Contains(s.events, no.Kind) {
				continue
			}
			n.post(s, no)
		}
	}
}

// post delivers one notification to one sink, retrying refusals, server
// errors and throttling with backoff.
func (n *Notifier) post(s sink, no Notification) {
	body, err := payload(s.format, no)
	if err != nil {
		n.record("NotifyFailed", fmt.Sprintf("sink %s: %s: %v", s.name, no.Kind, err))
		return
	}
	wait := n.retry.Wait
	var last string
	for attempt := 1; attempt <= max(n.retry.Attempts, 1); attempt++ {
		if attempt > 1 {
			select {
			case <-n.ctx.Done():
				n.record("NotifyFailed", fmt.Sprintf("sink %s: %s not delivered before upshift exited: %s", s.name, no.Kind, last))
				return
			case <-time.After(wait):
			}
			wait *= 2
		}
		if n.ctx.Err() != nil {
			n.record("NotifyFailed", fmt.Sprintf("sink %s: %s not delivered before upshift exited", s.name, no.Kind))
			return
		}
		req, _ := http.NewRequestWithContext(n.ctx, http.MethodPost, s.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := n.client.Do(req)
		if err != nil {
			last = "no answer" // the error names the URL, which may hold a secret
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			n.record("Notified", fmt.Sprintf("sink %s: %s delivered (attempt %d)", s.name, no.Kind, attempt))
			return
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = resp.Status
		default:
			n.record("NotifyFailed", fmt.Sprintf("sink %s: %s refused: %s (not retried: check the sink's URL and format)", s.name, no.Kind, resp.Status))
			return
		}
	}
	n.record("NotifyFailed", fmt.Sprintf("sink %s: %s not delivered after %d attempts: %s", s.name, no.Kind, n.retry.Attempts, last))
}

func (n *Notifier) record(typ, msg string) {
	if n.audit != nil {
		n.audit(store.Event{Time: time.Now().UTC(), Type: typ, Message: msg})
	}
}

// payload renders a notification in a sink's format.
func payload(format string, no Notification) ([]byte, error) {
	where := no.Run
	for _, part := range []string{no.Stage, no.Cluster, no.Step} {
		if part != "" {
			where += " / " + part
		}
	}
	title := fmt.Sprintf("upshift %s: %s", no.Kind, where)
	switch format {
	case v1alpha1.NotifyFormatSlack:
		text := fmt.Sprintf("*%s*\n%s", title, no.Message)
		if no.Command != "" {
			text += "\n`" + no.Command + "`"
		}
		return json.Marshal(map[string]string{"text": text})
	case v1alpha1.NotifyFormatTeams:
		text := no.Message
		if no.Command != "" {
			text += "\n\nTo go on: `" + no.Command + "`"
		}
		return json.Marshal(map[string]any{
			"@type": "MessageCard", "@context": "https://schema.org/extensions",
			"summary": title, "title": title, "text": text, "themeColor": color(no.Kind),
		})
	}
	return json.Marshal(no)
}

func color(kind string) string {
	switch kind {
	case v1alpha1.NotifyStepFailed, v1alpha1.NotifyRunFailed, v1alpha1.NotifyRolledBack:
		return "D13438"
	case v1alpha1.NotifyEscalated:
		return "FFB900"
	case v1alpha1.NotifyApprovalNeeded:
		return "FFB900"
	}
	return "107C10"
}
