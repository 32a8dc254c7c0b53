package bluegreen

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/freeze"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/statesync"
)

// comparisonRounds bounds how often a latency-only regression is measured
// before it fails the sync.
const comparisonRounds = 3

// Sync is T2: freeze blue, fill green, report drift, validate green.
func (m *Move) Sync(ctx context.Context) (msg string, err error) {
	defer func() {
		if err != nil && m.frozen() && m.Status().FreezeApplied != nil {
			err = fmt.Errorf("%w (blue's deployers stay frozen by run %s: `upshift resume %s` retries, `upshift rollback %s` lifts the freeze)", err, m.Run, m.Run, m.Run)
		}
	}()
	st := m.Status()
	gc, err := m.Resolve(st.Green)
	if err != nil {
		return "", err
	}
	var msgs []string
	if m.frozen() {
		if err := freeze.Apply(ctx, m.Blue.RESTConfig, m.Run, m.identities()); err != nil {
			return "", fmt.Errorf("freezing blue's deployers: %w", err)
		}
		m.Record(func(s *v1alpha1.BlueGreenStatus) {
			if s.FreezeApplied == nil {
				s.FreezeApplied = now()
			}
			s.FreezeLifted = nil
		})
		m.progress("deployers frozen on blue %s (policy %s)", m.Blue.Name, freeze.PolicyName(m.Run))
		msgs = append(msgs, "blue frozen")
	}
	blueDyn, err := dynamic.NewForConfig(m.Blue.RESTConfig)
	if err != nil {
		return "", err
	}
	greenDyn, err := dynamic.NewForConfig(gc.RESTConfig)
	if err != nil {
		return "", err
	}
	opts, err := syncOptions(m.Spec.Sync, m.Blue.RESTConfig)
	if err != nil {
		return "", err
	}
	var applied int
	switch m.Spec.Sync.Source {
	case v1alpha1.SyncManifests:
		objs, err := statesync.ReadManifests(m.Spec.Sync.Manifests)
		if err != nil {
			return "", err
		}
		res, err := statesync.ApplyManifests(ctx, gc.RESTConfig, objs)
		if err != nil {
			return "", err
		}
		applied = res.Applied
	default:
		res, err := statesync.Copy(ctx, blueDyn, greenDyn, opts)
		if err != nil {
			return "", err
		}
		applied = res.Applied
	}
	m.progress("%d object(s) applied to green %s", applied, gc.Name)
	drift, err := statesync.Diff(ctx, blueDyn, greenDyn, opts)
	if err != nil {
		return "", fmt.Errorf("drift report: %w", err)
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		s.Synced = applied
		s.Drift = nil
		for _, d := range drift {
			s.Drift = append(s.Drift, v1alpha1.DriftEntry{Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, Problem: d.Problem})
		}
	})
	msgs = append(msgs, fmt.Sprintf("%d object(s) synced, %d drifted", applied, len(drift)))
	if err := waitWorkloads(ctx, gc.RESTConfig, opts.Namespaces, 5*time.Minute); err != nil {
		return "", fmt.Errorf("green's workloads: %w", err)
	}
	if err := m.addGreenRoutes(ctx, gc.Name); err != nil {
		return "", err
	}
	if gs := m.Spec.Validation.Gates; len(gs) > 0 {
		msg, err := m.Gates(ctx, m.gatesFor(gs, m.hosts().Green), gc)
		if err != nil {
			return "", err
		}
		msgs = append(msgs, msg)
	}
	if lc := m.Spec.Validation.LoadComparison; lc != nil {
		n, c, t, delta := orDefault(lc.Requests, 200), orDefault(lc.Concurrency, 4), orDefault(lc.ThresholdPercent, 5), 10*time.Millisecond
		if lc.MinLatencyDelta != nil {
			delta = lc.MinLatencyDelta.Duration
		}
		compare := func() loadgen.Comparison {
			return loadgen.Compare(ctx, m.target(m.hosts().Blue, lc.Path), m.target(m.hosts().Green, lc.Path), n, c, float64(t), delta)
		}
		cmp := compare()
		// A latency-only regression must show in every round: one round's
		// p95 on a busy machine is noise as often as it is a regression.
		for round := 2; round <= comparisonRounds && cmp.LatencyOnly && ctx.Err() == nil; round++ {
			m.progress("load comparison round %d of %d: %s; measuring again to tell a regression from noise", round-1, comparisonRounds, cmp)
			cmp = compare()
		}
		m.Record(func(s *v1alpha1.BlueGreenStatus) { s.LoadComparison = cmp.String() })
		if len(cmp.Regressions) > 0 {
			return "", fmt.Errorf("load comparison: %s", cmp)
		}
		msgs = append(msgs, "load comparison: "+cmp.String())
	}
	return strings.Join(msgs, "; "), nil
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// addGreenRoutes puts green behind the switched name at weight 0 and
// behind its own name, on providers whose routes upshift edits.
func (m *Move) addGreenRoutes(ctx context.Context, green string) error {
	router, ok := m.Traffic.(traffic.Router)
	if !ok {
		return nil
	}
	gcl, err := m.Provider.Get(ctx, green)
	if err != nil {
		return err
	}
	ingress, err := cluster.IngressURL(ctx, m.Provider, gcl)
	if err != nil {
		return fmt.Errorf("green: %w", err)
	}
	h := m.hosts()
	be := traffic.Backend{Name: green, URL: ingress, HealthPath: m.Spec.Traffic.HealthPath}
	r, err := router.Route(ctx, h.Cluster)
	if err != nil {
		return fmt.Errorf("route %s: %w", h.Cluster, err)
	}
	if cur, ok := r.Backend(green); !ok || cur.URL != be.URL {
		be.Weight = 0
		if ok {
			be.Weight = cur.Weight
		}
		r.Backends = append(r.Without(green), be)
		if err := router.ApplyRoute(ctx, r); err != nil {
			return fmt.Errorf("adding green to %s: %w", h.Cluster, err)
		}
	}
	be.Weight = 100
	if err := router.ApplyRoute(ctx, traffic.Route{Host: h.Green, UpstreamHost: h.Public, Backends: []traffic.Backend{be}}); err != nil {
		return fmt.Errorf("route %s: %w", h.Green, err)
	}
	return nil
}
