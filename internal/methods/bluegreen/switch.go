package bluegreen

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/park"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/traffic"
)

// greenAnswerTimeout bounds how long T3 waits for green to answer
// through the front door before it switches.
var greenAnswerTimeout = time.Minute

// greenAnswers waits, before any user is sent to green, until green
// answers through the front door by its green name (the route to green
// alone, with the public name upstream) three times in a row: a green
// whose ingress or app is not serving yet is not switched to. One that
// does not answer within greenAnswerTimeout fails the switch with all
// traffic still on blue. Only routers have a green name behind the front
// door's URL; DNS and Traffic Manager switches go on to the watch.
func (m *Move) greenAnswers(ctx context.Context) error {
	h := m.hosts()
	if _, ok := m.Traffic.(traffic.Router); !ok || m.Spec.Traffic.URL == "" || h.Green == "" {
		return nil
	}
	t := m.target(h.Green, m.Spec.Traffic.HealthPath)
	deadline := time.Now().Add(greenAnswerTimeout)
	var last loadgen.Stats
	for inRow := 0; inRow < 3; {
		s := loadgen.Burst(ctx, t, 1, 1)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.Failed == 0 {
			inRow++
			continue
		}
		inRow, last = 0, s
		if time.Now().After(deadline) {
			return fmt.Errorf("green does not answer %s through the front door (%s) after %s: %s; traffic stays on blue (check green's ingress and workloads, then resume)",
				h.Green, t.URL, greenAnswerTimeout, strings.Join(last.Errors, "; "))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// Switch is T3: move the cluster name to green and watch it for the
// window; any failure switches back (rollback) and fails the phase.
func (m *Move) Switch(ctx context.Context) (string, error) {
	st := m.Status()
	gc, err := m.Resolve(st.Green)
	if err != nil {
		return "", err
	}
	if err := m.addGreenRoutes(ctx, gc.Name); err != nil {
		return "", err
	}
	if err := m.greenAnswers(ctx); err != nil {
		return "", err
	}
	h := m.hosts()
	if ttl, ok := m.Traffic.(traffic.TTLManager); ok && st.Switched == nil {
		wait, err := ttl.LowerTTL(ctx, h.Cluster)
		if err != nil {
			return "", fmt.Errorf("lowering the TTL of %s: %w", h.Cluster, err)
		}
		if wait > 0 {
			m.progress("TTL of %s lowered; waiting %s for caches to expire", h.Cluster, wait)
			if err := sleep(ctx, wait); err != nil {
				return "", err
			}
		}
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		s.SwitchStarted, s.RolledBack, s.RollbackReason = now(), nil, ""
	})
	start := time.Now()
	if err := m.Traffic.Switch(ctx, h.Cluster, traffic.Weights{m.Blue.Name: 0, gc.Name: 100}); err != nil {
		// A failed switch may have half-applied: put blue back.
		rbErr := m.switchBack(context.WithoutCancel(ctx))
		if rbErr != nil {
			return "", fmt.Errorf("switching %s to green: %w; switching back also failed: %w", h.Cluster, err, rbErr)
		}
		return "", fmt.Errorf("switching %s to green: %w (traffic stays on blue)", h.Cluster, err)
	}
	took := time.Since(start)
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		s.Switched, s.SwitchDuration = now(), &metav1.Duration{Duration: took}
	})
	m.progress("%s switched to green %s in %s; watching for %s", h.Cluster, gc.Name, took.Round(time.Millisecond), m.window())
	verdict, err := m.watch(ctx, gc)
	m.Record(func(s *v1alpha1.BlueGreenStatus) { s.PostSwitch = verdict })
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err() // stopped or killed: a resume watches again
		}
		reason := "post-switch check failed: " + err.Error()
		if rbErr := m.Rollback(context.WithoutCancel(ctx), reason); rbErr != nil {
			return "", fmt.Errorf("%s; rollback failed: %w", reason, rbErr)
		}
		return "", &RolledBackError{Reason: reason}
	}
	if ttl, ok := m.Traffic.(traffic.TTLManager); ok {
		if err := ttl.RestoreTTL(ctx, h.Cluster); err != nil {
			return "", fmt.Errorf("restoring the TTL of %s: %w", h.Cluster, err)
		}
	}
	return fmt.Sprintf("switched to green %s in %s; %s", gc.Name, took.Round(time.Millisecond), verdict), nil
}

// Shift sends percent of the cluster name's traffic to green and the
// rest to blue (a canary's step), green first added to the route where
// upshift edits routes. Setting the weights a step already set changes
// nothing, so a resumed step shifts again safely.
func (m *Move) Shift(ctx context.Context, percent int) error {
	st := m.Status()
	if err := m.addGreenRoutes(ctx, st.Green); err != nil {
		return err
	}
	h := m.hosts()
	w := traffic.Weights{m.Blue.Name: 100 - percent, st.Green: percent}
	if err := m.Traffic.Switch(ctx, h.Cluster, w); err != nil {
		return fmt.Errorf("setting %s to %s: %w", h.Cluster, w, err)
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		if s.SwitchStarted == nil {
			s.SwitchStarted = now()
		}
		if percent == 100 && s.Switched == nil {
			s.Switched = now()
		}
	})
	return nil
}

// CheckGreen runs gates as the post-switch window does: HTTP gates
// written as a path go through the cluster name, the others check green.
func (m *Move) CheckGreen(ctx context.Context, list []v1alpha1.GateSpec) (string, error) {
	gc, err := m.Resolve(m.Status().Green)
	if err != nil {
		return "", err
	}
	return m.Gates(ctx, m.gatesFor(list, m.hosts().Cluster), gc)
}

// Pins says whether requests can pin themselves to a backend of the
// cluster name's route with a header (upshift's gateway, Gateway API);
// elsewhere testers reach green by its own name.
func (m *Move) Pins() bool {
	_, router := m.Traffic.(traffic.Router)
	_, pins := m.Traffic.(traffic.HeaderPinner)
	return router && pins
}

// GreenName is the name that reaches green alone through the front door.
func (m *Move) GreenName() string { return m.hosts().Green }

// AllowPin lets requests pin themselves to a backend of the cluster
// name's route (testers reaching green at weight 0), or stops them, on a
// provider whose routes upshift edits; it returns the header testers send.
// Stopping them where nothing pins (Pins false) changes nothing.
func (m *Move) AllowPin(ctx context.Context, allow bool) (string, error) {
	if !m.Pins() {
		if !allow {
			return "", nil
		}
		return "", fmt.Errorf("traffic provider %s cannot let testers pin themselves to green: they reach it by its own name, %s", m.Spec.Traffic.Provider, m.GreenName())
	}
	router, pinner := m.Traffic.(traffic.Router), m.Traffic.(traffic.HeaderPinner)
	r, err := router.Route(ctx, m.hosts().Cluster)
	if err != nil {
		return "", fmt.Errorf("route %s: %w", m.hosts().Cluster, err)
	}
	if r.AllowPin != allow {
		r.AllowPin = allow
		if err := router.ApplyRoute(ctx, r); err != nil {
			return "", fmt.Errorf("route %s: %w", m.hosts().Cluster, err)
		}
	}
	return pinner.PinHeader(), nil
}

func (m *Move) window() time.Duration {
	if w := m.Spec.PostSwitch.Window; w != nil {
		return w.Duration
	}
	return 30 * time.Second
}

// maxErrorRate is the share of failed probes, in percent, that fails
// the post-switch window, and blue's baseline at T0 (default 1).
func (m *Move) maxErrorRate() int {
	if p := m.Spec.PostSwitch.MaxErrorRatePercent; p != nil {
		return *p
	}
	return 1
}

// watch probes the cluster name and runs the post-switch gates until the
// window ends.
func (m *Move) watch(ctx context.Context, gc Cluster) (string, error) {
	maxErr := m.maxErrorRate()
	probe := loadgen.Start(ctx, m.target(m.hosts().Cluster, m.Spec.Traffic.HealthPath), 1, 100*time.Millisecond)
	stats := func() loadgen.Stats { return probe.Snapshot() }
	defer probe.Stop()
	check := func() error {
		s := stats()
		if s.Sent >= 20 && s.ErrorRate()*100 > float64(maxErr) {
			return fmt.Errorf("probes of %s: %s (allowed %d%%): %s", m.hosts().Cluster, s, maxErr, strings.Join(s.Errors, "; "))
		}
		return nil
	}
	deadline := time.Now().Add(m.window())
	gates := m.gatesFor(m.Spec.PostSwitch.Gates, m.hosts().Cluster)
	for {
		if len(gates) > 0 {
			// The window probes while its gates run: they cannot park.
			if _, err := m.Gates(park.Forbid(ctx), gates, gc); err != nil {
				return "failed: " + err.Error(), err
			}
		}
		if err := check(); err != nil {
			return "failed: " + err.Error(), err
		}
		if time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, min(2*time.Second, time.Until(deadline)+time.Millisecond)); err != nil {
			return "interrupted", err
		}
	}
	s := probe.Stop()
	if s.Sent >= 1 && s.ErrorRate()*100 > float64(maxErr) {
		err := fmt.Errorf("probes of %s: %s", m.hosts().Cluster, s)
		return "failed: " + err.Error(), err
	}
	return fmt.Sprintf("green healthy for %s (probes: %s)", m.window(), s), nil
}

// switchBack puts all of the cluster name's traffic on blue, putting blue
// back in the route first if T4 had taken it out.
func (m *Move) switchBack(ctx context.Context) error {
	h := m.hosts()
	if router, ok := m.Traffic.(traffic.Router); ok {
		r, err := router.Route(ctx, h.Cluster)
		if err != nil {
			return err
		}
		if _, ok := r.Backend(m.Blue.Name); !ok {
			blue, err := m.Provider.Get(ctx, m.Blue.Name)
			if err != nil {
				return fmt.Errorf("blue %s: %w", m.Blue.Name, err)
			}
			for i := range r.Backends {
				r.Backends[i].Weight = 0
			}
			ingress, err := cluster.IngressURL(ctx, m.Provider, blue)
			if err != nil {
				return fmt.Errorf("blue: %w", err)
			}
			r.Backends = append(r.Backends, traffic.Backend{Name: m.Blue.Name, URL: ingress, Weight: 100, HealthPath: m.Spec.Traffic.HealthPath})
			return router.ApplyRoute(ctx, r)
		}
	}
	cur, err := m.Traffic.Weights(ctx, h.Cluster)
	if err == nil && cur[m.Blue.Name] == 100 {
		return nil
	}
	w := traffic.Weights{m.Blue.Name: 100}
	for name := range cur {
		if name != m.Blue.Name {
			w[name] = 0
		}
	}
	return m.Traffic.Switch(ctx, h.Cluster, w)
}
