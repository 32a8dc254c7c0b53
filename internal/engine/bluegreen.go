package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/bluegreen"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/store"
)

// ErrRolledBack is the outcome of a blue-green run whose traffic went back
// to blue.
var ErrRolledBack = errors.New("the run was rolled back")

// trafficProvider builds the run's traffic provider once per drive.
func (e *Engine) trafficProvider() (traffic.Provider, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.traffic != nil {
		return e.traffic, nil
	}
	build := e.NewTraffic
	if build == nil {
		build = traffic.New
	}
	p, err := build(e.run.Spec.BlueGreen.Traffic)
	if err != nil {
		return nil, err
	}
	e.traffic = p
	return p, nil
}

// move builds the blue-green move of a stage's cluster.
func (e *Engine) move(ctx context.Context, stage, idx int, fc v1alpha1.Cluster, m *Member) (*bluegreen.Move, error) {
	tp, err := e.trafficProvider()
	if err != nil {
		return nil, err
	}
	target, err := targetVersion(ctx, m, e.run.Spec.Upgrade.KubernetesVersion)
	if err != nil {
		return nil, err
	}
	get := func(s *v1alpha1.UpdateRunStatus) *v1alpha1.BlueGreenStatus {
		c := &s.Stages[stage].Clusters[idx]
		if c.BlueGreen == nil {
			c.BlueGreen = &v1alpha1.BlueGreenStatus{Blue: m.Name, Green: bluegreen.GreenName(m.Name)}
		}
		return c.BlueGreen
	}
	stageName := e.run.Status.Stages[stage].Name
	spec := *e.run.Spec.BlueGreen.DeepCopy()
	spec.Traffic.Hosts = spec.Traffic.Hosts.For(fc.Name)
	mv := &bluegreen.Move{
		Run:           e.run.Name,
		Spec:          spec,
		TargetVersion: target.String(),
		NodeImage:     e.run.Status.NodeImage,
		Provider:      m.Provider,
		Traffic:       tp,
		Blue:          bluegreen.Cluster{Name: m.Name, RESTConfig: m.RESTConfig, Kubeconfig: m.Kubeconfig},
		Resolve: func(name string) (bluegreen.Cluster, error) {
			gm, err := e.Resolve(fleet.WithLocalName(fc, name))
			if err != nil {
				return bluegreen.Cluster{}, fmt.Errorf("reaching %s: %w", name, err)
			}
			return bluegreen.Cluster{Name: gm.Name, RESTConfig: gm.RESTConfig, Kubeconfig: gm.Kubeconfig}, nil
		},
		Status: func() v1alpha1.BlueGreenStatus {
			e.mu.Lock()
			defer e.mu.Unlock()
			return *get(&e.run.Status).DeepCopy()
		},
		Record: func(fn func(*v1alpha1.BlueGreenStatus)) {
			e.record(func(s *v1alpha1.UpdateRunStatus) { fn(get(s)) })
		},
		Progress: func(msg string) {
			e.emit(Event{Stage: stageName, Cluster: fc.Name, Type: "Progress", Message: msg})
		},
	}
	mv.Gates = func(ctx context.Context, list []v1alpha1.GateSpec, c bluegreen.Cluster) (string, error) {
		gm := &Member{Provider: m.Provider, Name: c.Name, RESTConfig: c.RESTConfig, Kubeconfig: c.Kubeconfig}
		msg, _, err := e.runGates(ctx, fleet.WithLocalName(fc, c.Name), gm, list, target.String(), time.Now())
		return msg, err
	}
	return mv, nil
}

// execBlueGreen runs one phase of a cluster's blue-green move.
func (e *Engine) execBlueGreen(ctx context.Context, stage, idx int, fc v1alpha1.Cluster, m *Member, step string, since time.Time) (string, error) {
	mv, err := e.move(ctx, stage, idx, fc, m)
	if err != nil {
		return "", err
	}
	switch step {
	case bluegreen.StepBaseline:
		return mv.Baseline(ctx)
	case bluegreen.StepDeployGreen:
		return mv.DeployGreen(ctx)
	case bluegreen.StepSync:
		return mv.Sync(ctx)
	case bluegreen.StepSwitch:
		return mv.Switch(ctx)
	case bluegreen.StepRetireBlue:
		msg, err := mv.RetireBlue(ctx, since)
		if err != nil {
			return "", err
		}
		if err := e.replaceMember(fc, mv.Status().Green); err != nil {
			return msg, fmt.Errorf("green is the new blue, but recording it failed: %w", err)
		}
		return msg, nil
	}
	return "", fmt.Errorf("unknown blue-green step %q", step)
}

// replaceMember makes green the fleet's cluster in blue's place: in the
// run's frozen fleet, and through OnReplaced in the user's fleet file.
func (e *Engine) replaceMember(fc v1alpha1.Cluster, green string) error {
	e.mu.Lock()
	for i := range e.Fleet {
		if e.Fleet[i].Name == fc.Name {
			e.Fleet[i] = fleet.WithLocalName(e.Fleet[i], green)
		}
	}
	clusters := append([]v1alpha1.Cluster(nil), e.Fleet...)
	e.mu.Unlock()
	data, err := fleet.Marshal(clusters)
	if err != nil {
		return err
	}
	if err := e.Store.SaveFleet(e.run.Name, data); err != nil {
		return err
	}
	if e.OnReplaced != nil {
		return e.OnReplaced(fc.Name, green)
	}
	return nil
}

// rollbackAll sends every cluster of the run that switched (or may have
// begun to) back to blue, lifts the freezes and marks the run RolledBack.
func (e *Engine) rollbackAll(ctx context.Context, reason string) error {
	var errs []error
	e.mu.Lock()
	stages := e.run.Status.DeepCopy().Stages
	e.mu.Unlock()
	for i, st := range stages {
		for j, c := range st.Clusters {
			bg := c.BlueGreen
			if bg == nil || bg.BlueDeleted != nil {
				continue
			}
			fc, ok := e.fleetCluster(c.Name)
			if !ok {
				continue
			}
			m, err := e.Resolve(fleet.WithLocalName(fc, bg.Blue))
			if err != nil {
				errs = append(errs, fmt.Errorf("cluster %s: %w", c.Name, err))
				continue
			}
			mv, err := e.move(ctx, i, j, fc, m)
			if err != nil {
				errs = append(errs, fmt.Errorf("cluster %s: %w", c.Name, err))
				continue
			}
			if bg.RolledBack == nil {
				if err := mv.Rollback(ctx, reason); err != nil {
					errs = append(errs, fmt.Errorf("cluster %s: %w", c.Name, err))
					continue
				}
			}
			e.markRolledBack(i, j, reason)
			e.emit(Event{Stage: st.Name, Cluster: c.Name, Type: v1alpha1.PhaseRolledBack, Message: "traffic back on blue " + bg.Blue + "; green " + bg.Green + " kept for inspection"})
		}
	}
	if err := errors.Join(errs...); err != nil {
		e.record(func(s *v1alpha1.UpdateRunStatus) {
			setRunPhase(s, v1alpha1.PhaseFailed, "rollback failed: "+err.Error())
		})
		return err
	}
	return e.update(func(s *v1alpha1.UpdateRunStatus) {
		setRunPhase(s, v1alpha1.PhaseRolledBack, reason)
		s.End = now()
	})
}

// markRolledBack records a cluster's rollback: its switch and sync must be
// done again (the freeze was lifted, blue may change) if it is resumed.
func (e *Engine) markRolledBack(stage, idx int, reason string) {
	e.record(func(s *v1alpha1.UpdateRunStatus) {
		c := &s.Stages[stage].Clusters[idx]
		c.Phase, c.Message, c.End = v1alpha1.PhaseRolledBack, reason, now()
		for k := range c.Steps {
			switch c.Steps[k].Name {
			case bluegreen.StepSync, bluegreen.StepSwitch, bluegreen.StepRetireBlue:
				if c.Steps[k].Phase != v1alpha1.PhaseNotStarted {
					c.Steps[k].Phase = v1alpha1.PhaseFailed
					if c.Steps[k].Message == "" {
						c.Steps[k].Message = "rolled back"
					}
				}
			}
		}
	})
}

func (e *Engine) fleetCluster(name string) (v1alpha1.Cluster, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.Fleet {
		if c.Name == name {
			return c, true
		}
	}
	return v1alpha1.Cluster{}, false
}

// Rollback asks a blue-green run to send its traffic back to blue. When no
// process drives the run, this one does the rollback itself; otherwise the
// driver sees the request within a poll and rolls back, and Rollback waits
// for it.
func (e *Engine) Rollback(ctx context.Context, name string) (*v1alpha1.UpdateRun, error) {
	release, err := e.acquire(name)
	if err != nil {
		return nil, err
	}
	defer release()
	run, err := e.Store.Get(name)
	if err != nil {
		return nil, err
	}
	if run.Spec.Method != v1alpha1.MethodBlueGreen {
		return run, &InvalidError{Msg: fmt.Sprintf("run %s is %s: only blue-green runs roll back", name, methodOf(run))}
	}
	for _, st := range run.Status.Stages {
		for _, c := range st.Clusters {
			if c.BlueGreen != nil && c.BlueGreen.BlueDeleted != nil {
				return run, &InvalidError{Msg: fmt.Sprintf("cluster %s: blue %s was destroyed at the end of T4; there is nothing to roll back to", c.Name, c.BlueGreen.Blue)}
			}
		}
	}
	if err := e.Store.SetState(name, v1alpha1.StateRollback); err != nil {
		return nil, err
	}
	var unlock func()
	for {
		// A driver holding the run rolls back itself; wait for it, and
		// take over if it goes away first.
		if unlock, err = e.Store.Lock(name); err == nil {
			break
		}
		if !errors.Is(err, store.ErrLocked) {
			return nil, err
		}
		if run, gerr := e.Store.Get(name); gerr == nil {
			switch run.Status.Phase {
			case v1alpha1.PhaseRolledBack:
				return run, nil
			case v1alpha1.PhaseFailed:
				if run.Spec.State == v1alpha1.StateRollback && strings.HasPrefix(run.Status.Message, "rollback failed") {
					return run, fmt.Errorf("%w: %s", ErrFailed, run.Status.Message)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer unlock()
	if run, err = e.Store.Get(name); err != nil {
		return nil, err
	}
	e.begin(run)
	if err := e.rollbackAll(ctx, "rollback requested (upshift rollback "+name+")"); err != nil {
		return e.run, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return e.run, nil
}

func methodOf(run *v1alpha1.UpdateRun) string {
	if run.Spec.Method == "" {
		return v1alpha1.MethodInPlace
	}
	return run.Spec.Method
}
