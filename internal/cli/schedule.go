package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/autoupgrade"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/printer"
)

type scheduleOptions struct {
	runOptions
	profilesFile string
	once, dryRun bool
	interval     time.Duration
	scheduler    *autoupgrade.Scheduler
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
	if err := sc.Round(ctx); err != nil {
		return err
	}
	if o.once || o.dryRun {
		sc.Wait()
		return sc.Failed()
	}
	o.printer.Action("following %d profile(s) over %d cluster(s), looking every %s; Ctrl-C to stop (runs resume on the next start)", len(sc.Profiles), len(sc.Fleet), o.interval)
	for {
		select {
		case <-ctx.Done():
			sc.Wait()
			return nil
		case <-time.After(o.interval):
		}
		if err := sc.Round(ctx); err != nil {
			o.printer.Failure("%v", err)
		}
	}
}

func newScheduler(o *runOptions, profilesFile string, dryRun bool) (*autoupgrade.Scheduler, error) {
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
	sc := &autoupgrade.Scheduler{Profiles: docs.Profiles, Strategies: docs.Strategies, Fleet: clusters, DryRun: dryRun,
		Resolve: o.engine(clusters).Resolve, Runs: o.store(), Printer: o.printer,
		Create: func(ctx context.Context, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, clusters []v1alpha1.Cluster) error {
			_, err := o.engine(clusters).Initialize(ctx, run, strategy)
			return err
		},
		Drive: func(ctx context.Context, name string) error {
			o := *o
			o.metricsListen = ""
			e, err := o.frozen(name)
			if err == nil {
				err = o.drive(ctx, e, name)
			}
			return err
		}}
	for _, c := range clusters {
		if _, err := sc.Resolve(c); err != nil {
			return nil, usageError{Err: &engine.UnresolvedError{Cluster: c.Name, Err: err}}
		}
	}
	return sc, nil
}
