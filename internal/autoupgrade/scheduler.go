package autoupgrade

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/store"
)

// Scheduler makes and drives the runs a set of AutoUpgradeProfiles
// wants: each Round looks at the fleet once, creates the runs that do not
// exist yet, and drives the unfinished ones in the background
// (`upshift schedule`).
type Scheduler struct {
	Profiles   []*v1alpha1.AutoUpgradeProfile
	Strategies map[string]*v1alpha1.UpdateStrategy
	Fleet      []v1alpha1.Cluster
	Resolve    fleetmember.Resolver
	Runs       store.Runs
	// DryRun says what would be created, and creates and drives nothing.
	DryRun bool
	// Create stores a new run over clusters (the engine's Initialize).
	Create func(ctx context.Context, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, clusters []v1alpha1.Cluster) error
	// Drive drives a stored run to its end; an error that wraps
	// store.ErrLocked says another process drives it.
	Drive   func(ctx context.Context, name string) error
	Printer *printer.Printer

	mu      sync.Mutex
	driving map[string]bool
	// done are runs driven to their end here: not driven again.
	done map[string]bool
	told map[string]bool
	errs []error
	wg   sync.WaitGroup
}

// Wait waits for the runs being driven.
func (sc *Scheduler) Wait() { sc.wg.Wait() }

// observe reads every cluster's version, pools and offered versions, and
// the node-image catalogue; a cluster that cannot be read sits this round
// out.
func (sc *Scheduler) observe(ctx context.Context) Observed {
	obs := Observed{Clusters: map[string]ClusterState{}}
	for _, c := range sc.Fleet {
		m, err := sc.Resolve(c)
		if err == nil && obs.Images == nil {
			if ni, ok := m.Provider.(nodeimages.Source); ok {
				var feed *nodeimages.Feed
				if feed, err = ni.NodeImages(ctx); err == nil {
					obs.Images = feed
				}
			}
		}
		var got *cluster.Cluster
		if err == nil {
			got, err = m.Provider.Get(ctx, m.Name)
		}
		var st ClusterState
		if err == nil {
			st.Version, err = kubeversion.Parse(got.KubernetesVersion)
		}
		if err == nil {
			st.Available, err = m.Provider.Versions(ctx)
		}
		if err != nil {
			sc.Printer.Failure("cluster %s: %v; left out of this round", c.Name, err)
			continue
		}
		ps, named := m.Provider.(nodeimages.PoolSource)
		_, catalogued := m.Provider.(nodeimages.Source)
		for _, np := range got.NodePools {
			st.PoolImages = append(st.PoolImages, np.NodeImage)
			if named && !catalogued && err == nil {
				var newest string
				newest, err = ps.NewestPoolImage(ctx, m.Name, np.Name)
				st.PoolNewest = append(st.PoolNewest, newest)
			}
		}
		if err != nil {
			sc.Printer.Failure("cluster %s: %v; left out of this round", c.Name, err)
			continue
		}
		obs.Clusters[c.Name] = st
	}
	return obs
}

// Round looks once: it creates the runs profiles want that do not exist,
// and drives the unfinished runs of the profiles.
func (sc *Scheduler) Round(ctx context.Context) error {
	obs := sc.observe(ctx)
	sc.init()
	st := sc.Runs
	runs, err := st.List()
	if err != nil {
		return err
	}
	existing := map[string]*v1alpha1.UpdateRun{}
	active := map[string]string{} // profile → its unfinished run
	for _, r := range runs {
		existing[r.Name] = r
		if p := r.Labels[LabelProfile]; p != "" && Active(r) {
			active[p] = r.Name
		}
	}
	for _, p := range sc.Profiles {
		want := Want(p, sc.Strategies, sc.Fleet, obs)
		if len(want) == 0 {
			if sc.DryRun || !p.Spec.Disabled {
				sc.tellEach(p.Name+"/nothing", "profile %s (channel %s): nothing new", p.Name, p.Spec.Channel)
			}
			continue
		}
		delete(sc.told, p.Name+"/nothing")
		for _, d := range want {
			if r, ok := existing[d.Run.Name]; ok {
				if sc.DryRun {
					sc.Printer.Action("%s: exists already (%s)", d.Describe(), orNone(r.Status.Phase))
				}
				continue
			}
			if r := active[p.Name]; r != "" {
				sc.tell(d.Run.Name+"/"+r, "%s: waits for run %s of the profile to end (`upshift cancel %s` ends it for good)", d.Describe(), r, r)
				continue
			}
			if sc.DryRun {
				sc.Printer.Action("would create: %s", d.Describe())
				continue
			}
			if err := sc.Create(ctx, d.Run, d.Strategy, d.Clusters); err != nil {
				sc.tell(d.Run.Name+"/invalid", "%s: cannot be created: %v", d.Describe(), err)
				continue
			}
			_ = st.Audit(d.Run.Name, store.Event{Time: time.Now().UTC(), Type: store.EventScheduled, Message: fmt.Sprintf("created by upshift schedule for AutoUpgradeProfile %s (channel %s): %s", p.Name, p.Spec.Channel, d.Describe())})
			sc.Printer.Success("created: %s", d.Describe())
			active[p.Name] = d.Run.Name
		}
	}
	if sc.DryRun {
		return nil
	}
	for _, name := range active {
		sc.drive(ctx, name)
	}
	return nil
}

// tell says something once per key: a round repeats itself every interval.
func (sc *Scheduler) tell(key, format string, args ...any) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.told[key] {
		return
	}
	sc.told[key] = true
	sc.Printer.Waiting(format, args...)
}

// tellEach is tell in a dry run (each says everything) and once otherwise.
func (sc *Scheduler) tellEach(key, format string, args ...any) {
	if sc.DryRun {
		sc.Printer.Action(format, args...)
		return
	}
	sc.tell(key, format, args...)
}

// drive drives a run in the background unless this scheduler drives it
// already; a run another process drives is left to it.
func (sc *Scheduler) drive(ctx context.Context, name string) {
	sc.mu.Lock()
	if sc.driving[name] || sc.done[name] {
		sc.mu.Unlock()
		return
	}
	sc.driving[name] = true
	sc.mu.Unlock()
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		err := sc.Drive(ctx, name)
		sc.mu.Lock()
		defer sc.mu.Unlock()
		switch {
		case ctx.Err() != nil:
		case err == nil:
			sc.done[name] = true
		case errors.Is(err, store.ErrLocked):
			sc.Printer.Waiting("run %s is driven by another upshift process", name)
		default:
			sc.done[name] = true
			sc.errs = append(sc.errs, fmt.Errorf("run %s: %w", name, err))
		}
		delete(sc.driving, name)
	}()
}

// Failed is the outcome of a single round: the first run that did not complete.
func (sc *Scheduler) Failed() error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.errs) > 0 {
		return errors.Join(sc.errs...)
	}
	return nil
}

func (sc *Scheduler) init() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.driving == nil {
		sc.driving, sc.done, sc.told = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
}

func orNone(phase string) string {
	if phase == "" {
		return "-"
	}
	return phase
}
