package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/autoupgrade"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/store"
)

type scheduleOptions struct {
	runOptions
	profilesFile string
	once, dryRun bool
	interval     time.Duration
	scheduler    *scheduler
}

func newScheduleCommand(s Streams) *cobra.Command {
	o := &scheduleOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "schedule --fleet FLEET_FILE -f PROFILES_FILE [--once] [--dry-run]",
		Short: "Follow auto-upgrade channels: make and drive an update run whenever a profile's channel offers something new",
		Long: `Watch the Kubernetes versions and node images the fleet's providers offer and,
for each AutoUpgradeProfile (channel Stable, Rapid, Patch, NodeImage or
TargetKubernetesVersion), create an update run when its channel offers a
cluster something new, then drive it. Runs wait for the clusters' maintenance
windows.

A run is named after its profile and target (fleet-images-ubuntu-2204-2026.12),
so a target gets one run, ever: a restarted scheduler finds the runs it made,
drives on those that are unfinished, and creates none twice. While a profile's
run is unfinished, its newer targets wait for it. A run stopped with
` + "`upshift stop`" + ` is left alone.

It runs in the foreground, looking every --interval, until interrupted; with
--once it looks once, drives what it made or found to its end, and exits (for
cron). --dry-run says what it would create and creates nothing.

Exit codes: 0 done (or interrupted); 1 a run failed (--once); 2 bad input.`,
		Example: `  upshift schedule --fleet fleet.yaml -f profiles.yaml
  upshift schedule --fleet fleet.yaml -f profiles.yaml --once --dry-run`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	o.addHome(cmd)
	o.addMetrics(cmd)
	cmd.Flags().StringVar(&o.fleetFile, "fleet", "", "fleet file of upshift.dev/v1alpha1 Cluster objects (required)")
	cmd.Flags().StringVarP(&o.profilesFile, "filename", "f", "", "profiles file: AutoUpgradeProfile objects and the UpdateStrategy objects they name (required)")
	cmd.Flags().BoolVar(&o.once, "once", false, "look once, drive what needs driving to its end, and exit (for cron)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "say what runs would be created, and create or drive nothing")
	cmd.Flags().DurationVar(&o.interval, "interval", time.Minute, "how often to look for new versions and images")
	return cmd
}

func (o *scheduleOptions) Complete(*cobra.Command, []string) error {
	o.printer = printer.New(o.streams.Err)
	return nil
}

// Validate reads the profiles and the fleet, and resolves every cluster.
func (o *scheduleOptions) Validate() error {
	if o.fleetFile == "" || o.profilesFile == "" {
		return usagef("--fleet FLEET_FILE and -f PROFILES_FILE are required")
	}
	if o.interval < time.Second {
		return usagef("--interval %s: look at most once a second", o.interval)
	}
	var err error
	o.scheduler, err = newScheduler(&o.runOptions, o.profilesFile, o.dryRun)
	return err
}

// Run looks once, then every interval until interrupted (or, with --once
// or --dry-run, drives what it made to its end and returns).
func (o *scheduleOptions) Run(ctx context.Context) error {
	sc := o.scheduler
	if o.metricsListen != "" && !o.dryRun {
		stop, err := serveMetrics(o.metricsListen, o.store())
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := sc.round(ctx); err != nil {
		return err
	}
	if o.once || o.dryRun {
		sc.wg.Wait()
		return sc.failed()
	}
	o.printer.Action("following %d profile(s) over %d cluster(s), looking every %s; Ctrl-C to stop (runs resume on the next start)", len(sc.profiles), len(sc.fleet), o.interval)
	for {
		select {
		case <-ctx.Done():
			sc.wg.Wait()
			return nil
		case <-time.After(o.interval):
		}
		if err := sc.round(ctx); err != nil {
			o.printer.Failure("%v", err)
		}
	}
}

// scheduler makes and drives the runs of a profiles file.
type scheduler struct {
	o          *runOptions
	profiles   []*v1alpha1.AutoUpgradeProfile
	strategies map[string]*v1alpha1.UpdateStrategy
	fleet      []v1alpha1.Cluster
	dryRun     bool
	resolve    fleetmember.Resolver

	mu      sync.Mutex
	driving map[string]bool
	// done are runs driven to their end here: not driven again.
	done map[string]bool
	told map[string]bool
	errs []error
	wg   sync.WaitGroup
}

func newScheduler(o *runOptions, profilesFile string, dryRun bool) (*scheduler, error) {
	data, err := os.ReadFile(profilesFile)
	if err != nil {
		return nil, usageError{Err: err}
	}
	docs, err := plan.ParseProfiles(profilesFile, data)
	if err != nil {
		return nil, usageError{Err: err}
	}
	seen := map[string]bool{}
	for _, p := range docs.Profiles {
		if err := autoupgrade.Validate(p, docs.Strategies); err != nil {
			return nil, usageError{Err: fmt.Errorf("%s: %w", profilesFile, err)}
		}
		if seen[p.Name] {
			return nil, usagef("%s: AutoUpgradeProfile %s is given twice", profilesFile, p.Name)
		}
		seen[p.Name] = true
	}
	clusters, err := o.readFleet()
	if err != nil {
		return nil, err
	}
	sc := &scheduler{o: o, profiles: docs.Profiles, strategies: docs.Strategies, fleet: clusters, dryRun: dryRun,
		resolve: o.engine(clusters).Resolve, driving: map[string]bool{}, done: map[string]bool{}, told: map[string]bool{}}
	for _, c := range clusters {
		if _, err := sc.resolve(c); err != nil {
			return nil, usageError{Err: &engine.UnresolvedError{Cluster: c.Name, Err: err}}
		}
	}
	return sc, nil
}

// observe reads every cluster's version, pools and offered versions, and
// the node-image catalogue; a cluster that cannot be read sits this round
// out.
func (sc *scheduler) observe(ctx context.Context) autoupgrade.Observed {
	obs := autoupgrade.Observed{Clusters: map[string]autoupgrade.ClusterState{}}
	for _, c := range sc.fleet {
		m, err := sc.resolve(c)
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
		var st autoupgrade.ClusterState
		if err == nil {
			st.Version, err = kubeversion.Parse(got.KubernetesVersion)
		}
		if err == nil {
			st.Available, err = m.Provider.Versions(ctx)
		}
		if err != nil {
			sc.o.printer.Failure("cluster %s: %v; left out of this round", c.Name, err)
			continue
		}
		for _, np := range got.NodePools {
			st.PoolImages = append(st.PoolImages, np.NodeImage)
		}
		obs.Clusters[c.Name] = st
	}
	return obs
}

// round looks once: it creates the runs profiles want that do not exist,
// and drives the unfinished runs of the profiles.
func (sc *scheduler) round(ctx context.Context) error {
	obs := sc.observe(ctx)
	st := sc.o.store()
	runs, err := st.List()
	if err != nil {
		return err
	}
	existing := map[string]*v1alpha1.UpdateRun{}
	active := map[string]string{} // profile → its unfinished run
	for _, r := range runs {
		existing[r.Name] = r
		if p := r.Labels[autoupgrade.LabelProfile]; p != "" && autoupgrade.Active(r) {
			active[p] = r.Name
		}
	}
	for _, p := range sc.profiles {
		want := autoupgrade.Want(p, sc.strategies, sc.fleet, obs)
		if len(want) == 0 {
			if sc.dryRun || !p.Spec.Disabled {
				sc.tellEach(p.Name+"/nothing", "profile %s (channel %s): nothing new", p.Name, p.Spec.Channel)
			}
			continue
		}
		delete(sc.told, p.Name+"/nothing")
		for _, d := range want {
			if r, ok := existing[d.Run.Name]; ok {
				if sc.dryRun {
					sc.o.printer.Action("%s: exists already (%s)", d.Describe(), orNone(r.Status.Phase))
				}
				continue
			}
			if r := active[p.Name]; r != "" {
				sc.tell(d.Run.Name+"/"+r, "%s: waits for run %s of the profile to end (`upshift cancel %s` ends it for good)", d.Describe(), r, r)
				continue
			}
			if sc.dryRun {
				sc.o.printer.Action("would create: %s", d.Describe())
				continue
			}
			e := sc.o.engine(d.Clusters)
			if _, err := e.Initialize(ctx, d.Run, d.Strategy); err != nil {
				sc.tell(d.Run.Name+"/invalid", "%s: cannot be created: %v", d.Describe(), err)
				continue
			}
			_ = st.Audit(d.Run.Name, store.Event{Time: time.Now().UTC(), Type: store.EventScheduled, Message: fmt.Sprintf("created by upshift schedule for AutoUpgradeProfile %s (channel %s): %s", p.Name, p.Spec.Channel, d.Describe())})
			sc.o.printer.Success("created: %s", d.Describe())
			active[p.Name] = d.Run.Name
		}
	}
	if sc.dryRun {
		return nil
	}
	for _, name := range active {
		sc.drive(ctx, name)
	}
	return nil
}

// tell says something once per key: a round repeats itself every interval.
func (sc *scheduler) tell(key, format string, args ...any) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.told[key] {
		return
	}
	sc.told[key] = true
	sc.o.printer.Waiting(format, args...)
}

// tellEach is tell in a dry run (each says everything) and once otherwise.
func (sc *scheduler) tellEach(key, format string, args ...any) {
	if sc.dryRun {
		sc.o.printer.Action(format, args...)
		return
	}
	sc.tell(key, format, args...)
}

// drive drives a run in the background unless this scheduler drives it
// already; a run another process drives is left to it.
func (sc *scheduler) drive(ctx context.Context, name string) {
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
		o := *sc.o
		o.metricsListen = ""
		e, err := o.frozen(name)
		if err == nil {
			err = o.drive(ctx, e, name)
		}
		sc.mu.Lock()
		defer sc.mu.Unlock()
		var usage usageError
		switch {
		case ctx.Err() != nil:
		case err == nil:
			sc.done[name] = true
		case errors.As(err, &usage) && errors.Is(err, store.ErrLocked):
			sc.o.printer.Waiting("run %s is driven by another upshift process", name)
		default:
			sc.done[name] = true
			sc.errs = append(sc.errs, fmt.Errorf("run %s: %w", name, err))
		}
		delete(sc.driving, name)
	}()
}

// failed is the --once outcome: the first run that did not complete.
func (sc *scheduler) failed() error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.errs) > 0 {
		return errors.Join(sc.errs...)
	}
	return nil
}
