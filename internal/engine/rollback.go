package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffickinds"
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
		build = traffickinds.New
	}
	method, err := methods.Lookup(e.run.Spec.Method)
	if err != nil {
		return nil, err
	}
	mv, ok := method.(methods.Moving)
	if !ok {
		return nil, fmt.Errorf("method %s switches no traffic", methodOf(e.run))
	}
	spec, err := mv.Traffic(&e.run.Spec)
	if err != nil {
		return nil, err
	}
	p, err := build(spec)
	if err != nil {
		return nil, err
	}
	e.traffic = p
	return p, nil
}

// replaceMember makes green the fleet's cluster in blue's place: in the
// run's frozen fleet, and through OnReplaced in the user's fleet file.
func (e *Engine) replaceMember(fc v1alpha1.Cluster, green string) error {
	moved, err := fleetmember.Retarget(fc, green)
	if err != nil {
		return err
	}
	e.mu.Lock()
	for i := range e.Fleet {
		if e.Fleet[i].Name == fc.Name {
			e.Fleet[i] = moved
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
		field, err := fleetmember.NameField(fc.Spec.Provider)
		if err != nil {
			return err
		}
		return e.OnReplaced(fc.Name, field, green)
	}
	return nil
}

// rollbackAll undoes the move of every cluster of the run that began one
// (a method that is RollingBack says which), and marks the run RolledBack.
func (e *Engine) rollbackAll(ctx context.Context, reason string) error {
	method, err := methods.Lookup(e.run.Spec.Method)
	if err != nil {
		return err
	}
	rb, ok := method.(methods.RollingBack)
	if !ok {
		return fmt.Errorf("method %s cannot roll back", methodOf(e.run))
	}
	var errs []error
	e.mu.Lock()
	stages := e.run.Status.DeepCopy().Stages
	e.mu.Unlock()
	for i, st := range stages {
		for j, c := range st.Clusters {
			if begun, err := rb.Rollbackable(c); !begun || err != nil {
				continue
			}
			fc, ok := e.fleetCluster(c.Name)
			if !ok {
				continue
			}
			env := &clusterEnv{e: e, stage: i, idx: j, fc: fc, since: time.Now()}
			msg, err := rb.Rollback(ctx, env, reason)
			if err != nil {
				errs = append(errs, fmt.Errorf("cluster %s: %w", c.Name, err))
				continue
			}
			e.emit(Event{Stage: st.Name, Cluster: c.Name, Type: v1alpha1.PhaseRolledBack, Message: msg})
		}
	}
	if err := errors.Join(errs...); err != nil {
		e.record(func(s *v1alpha1.UpdateRunStatus) {
			setRunPhase(s, v1alpha1.PhaseFailed, "rollback failed: "+err.Error())
			meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionFailed).Reason = v1alpha1.ReasonRollbackFailed
		})
		return err
	}
	return e.update(func(s *v1alpha1.UpdateRunStatus) {
		setRunPhase(s, v1alpha1.PhaseRolledBack, reason)
		s.End = now()
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
	method, err := methods.Lookup(run.Spec.Method)
	if err != nil {
		return run, &InvalidError{Msg: err.Error()}
	}
	rb, ok := method.(methods.RollingBack)
	if !ok {
		return run, &InvalidError{Msg: fmt.Sprintf("run %s is %s: only blue-green runs roll back", name, methodOf(run))}
	}
	for _, st := range run.Status.Stages {
		for _, c := range st.Clusters {
			if _, err := rb.Rollbackable(c); err != nil {
				return run, &InvalidError{Msg: err.Error()}
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
				if c := meta.FindStatusCondition(run.Status.Conditions, v1alpha1.ConditionFailed); run.Spec.State == v1alpha1.StateRollback && c != nil && c.Reason == v1alpha1.ReasonRollbackFailed {
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
