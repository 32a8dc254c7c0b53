package gates

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/drainsim"
	"upshift.dev/upshift/internal/scan/apis"
	"upshift.dev/upshift/internal/scan/readiness"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

// deprecatedAPIs fails when the cluster uses APIs the target removes.
func deprecatedAPIs(ctx context.Context, t Target) (string, string, error) {
	target, err := rules.ParseVersion(t.TargetVersion)
	if err != nil {
		return "", "", fmt.Errorf("a DeprecatedAPIs gate needs the run's target version: %w", err)
	}
	findings, errs := apis.New(target).Cluster(ctx, t.Cluster, t.RESTConfig)
	rep := &report.Report{Scan: "apis", TargetVersion: target.String(), Findings: findings}
	for _, e := range errs {
		rep.Errors = append(rep.Errors, e.Error())
	}
	rep.Finish()
	var out strings.Builder
	_ = rep.Write(&out, "table")
	if rep.Summary.Blocking > 0 {
		var objs []string
		for _, f := range rep.Findings {
			if f.BlocksTarget {
				objs = append(objs, f.Object()+" ("+f.APIVersion+", "+f.Source+")")
			}
		}
		return "", out.String(), fmt.Errorf("%d object(s) use APIs removed in %s: %s", rep.Summary.Blocking, target, strings.Join(objs, "; "))
	}
	return rep.SummaryLine(), out.String(), nil
}

// readinessGate fails on readiness findings at or above the threshold.
func readinessGate(ctx context.Context, g *v1alpha1.ReadinessGate, t Target) (string, string, error) {
	failOn, includeSystem := report.SeverityError, false
	if g != nil {
		if g.FailOn != "" {
			failOn = g.FailOn
		}
		includeSystem = g.IncludeSystemNamespaces
	}
	client, err := kubernetes.NewForConfig(t.RESTConfig)
	if err != nil {
		return "", "", err
	}
	inv, err := readiness.Load(ctx, t.Cluster, client, includeSystem)
	if err != nil {
		return "", "", err
	}
	if v, err := rules.ParseVersion(t.TargetVersion); err == nil {
		inv.TargetVersion = v
	}
	rep := &report.Report{Scan: "readiness", TargetVersion: t.TargetVersion, Findings: readiness.Run(inv)}
	rep.Finish()
	var out strings.Builder
	_ = rep.Write(&out, "table")
	if rep.ExitCode(failOn) != report.ExitClean {
		var bad []string
		for _, f := range rep.Findings {
			if report.AtLeast(f.Severity, failOn) {
				bad = append(bad, f.Check+" "+f.Object())
			}
		}
		return "", out.String(), fmt.Errorf("readiness findings at or above %s: %s", failOn, strings.Join(bad, "; "))
	}
	return rep.SummaryLine(), out.String(), nil
}

// drainSimulation fails when the replay of a pool's upgrade finds a drain
// that will not finish, or a pool it could not replay.
func drainSimulation(ctx context.Context, t Target) (string, string, error) {
	var sims []drainsim.Replay
	if t.Simulate != nil {
		sims = t.Simulate(ctx)
	}
	if len(sims) == 0 {
		return "the run replaces no node pool of " + t.Cluster, "", nil
	}
	var out strings.Builder
	var ok, blocked []string
	for _, s := range sims {
		if s.Result == nil {
			return "", out.String(), fmt.Errorf("pool %s could not be replayed: %s", s.Pool, s.Error)
		}
		r := s.Result
		fmt.Fprintf(&out, "pool %s: %d of %d node(s) replaced in %d batch(es), %d eviction(s)\n", s.Pool, r.Replaced, r.Nodes, len(r.Batches), r.Evictions)
		for _, b := range r.Blockers {
			fmt.Fprintf(&out, "  BLOCKED batch %d, node %s, pod %s: %s; fix: %s\n", b.Batch, b.Node, b.Pod, b.Reason, b.Fix)
			blocked = append(blocked, fmt.Sprintf("pool %s, batch %d, node %s: pod %s (%s)", s.Pool, b.Batch, b.Node, b.Pod, b.Budget))
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(&out, "  warning batch %d, node %s, pod %s: %s\n", w.Batch, w.Node, w.Pod, w.Reason)
		}
		if d := r.Duration; d != nil && len(r.Blockers) == 0 {
			ok = append(ok, fmt.Sprintf("pool %s drains in about %s", s.Pool, d.Expected.Round(time.Second)))
		}
	}
	if len(blocked) > 0 {
		return "", out.String(), fmt.Errorf("%d drain(s) will not finish: %s (upshift plan --simulate shows each with what to change)", len(blocked), strings.Join(blocked, "; "))
	}
	return strings.Join(ok, "; "), out.String(), nil
}
