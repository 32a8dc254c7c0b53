package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/yamlstream"
)

// moveOptions are those of a command that moves one cluster to a new
// one (bluegreen, canary).
type moveOptions struct {
	runOptions
	cluster, to, configFile, name string
	clusters                      []v1alpha1.Cluster
	run                           *v1alpha1.UpdateRun
}

// addFlags adds the flags every move takes; what names the settings
// file's content and the run's default name prefix.
func (o *moveOptions) addFlags(cmd *cobra.Command, command, what string) {
	o.addHome(cmd)
	o.addMetrics(cmd)
	o.addReportOutput(cmd)
	cmd.Flags().StringVar(&o.to, "to", "", "the Kubernetes version of green, e.g. 1.37")
	cmd.Flags().StringVarP(&o.configFile, "filename", "f", "", what)
	cmd.Flags().StringVar(&o.fleetFile, "fleet", "", "fleet file holding CLUSTER; rewritten so green replaces blue at the end")
	cmd.Flags().StringVar(&o.name, "name", "", "the run's name (default "+command+"-CLUSTER-TIME)")
}

func (o *moveOptions) Complete(_ *cobra.Command, args []string) error {
	o.printer = printer.New(o.streams.Err)
	o.cluster = args[0]
	return nil
}

// validate checks what every move needs and reads the settings file into
// settings, unknown fields refused.
func (o *moveOptions) validate(command string, settings any) error {
	if o.to == "" || o.configFile == "" {
		return usagef("--to VERSION and -f %s_FILE are required", strings.ToUpper(command))
	}
	if err := names.Subdomain("cluster", o.cluster); err != nil {
		return err
	}
	o.name = runName(command, o.cluster, o.name)
	if err := names.Subdomain("run", o.name); err != nil {
		return err
	}
	data, err := os.ReadFile(o.configFile)
	if err != nil {
		return usageError{Err: err}
	}
	if err := yaml.UnmarshalStrict(data, settings); err != nil {
		if unknown := yamlstream.UnknownField(o.configFile, data, 1, data, settings); unknown != nil {
			return usageError{Err: unknown}
		}
		return usagef("%s: %v", o.configFile, err)
	}
	// The decoder matched a key that differs only in case; refuse it.
	if unknown := yamlstream.UnknownField(o.configFile, data, 1, data, settings); unknown != nil {
		return usageError{Err: unknown}
	}
	o.clusters, err = o.blueGreenFleet(o.cluster)
	return err
}

// Run plans and drives the move's run on its one cluster.
func (o *moveOptions) Run(ctx context.Context) error {
	e := o.engine(o.clusters)
	p, err := o.initialize(ctx, e, o.run, o.run.Spec.Strategy)
	if err != nil {
		return err
	}
	printPlan(o.humanOut(), viewOf(p, nil))
	return o.drive(ctx, e, o.run.Name)
}

type blueGreenOptions struct{ moveOptions }

func newBlueGreenCommand(s Streams) *cobra.Command {
	o := &blueGreenOptions{moveOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "bluegreen CLUSTER --to VERSION -f BLUEGREEN_FILE [--fleet FLEET_FILE]",
		Short: "Move one cluster's users to a new cluster at VERSION (blue-green, phases T0–T4)",
		Long: `Blue-green upgrade of one cluster: T0 record blue's baseline; T1 create green at
VERSION with blue's node pools and validate it; T2 freeze blue's deployers, copy
blue's state to green (or apply manifests), report drift, validate green with
gates and a load comparison; T3 switch the cluster name to green through the
traffic provider and watch it, switching back on any failure; T4 after the
soak, take blue out of the routes and destroy it (unless keepBlue).

BLUEGREEN_FILE holds the blueGreen section of an UpdateRun (traffic, sync,
freeze, validation, postSwitch, blueSoak, keepBlue). CLUSTER is a cluster of
the fleet file, or a local fleet cluster when no --fleet is given; with
--fleet, the file is rewritten at the end so green takes blue's place.

It is an update run like any other: kill it and ` + "`upshift resume RUN`" + `; send the
traffic back with ` + "`upshift rollback RUN`" + ` at any time before T4 ends.

Exit codes: 0 completed; 1 failed; 2 bad input (nothing changed); 10 stopped;
11 rolled back (traffic is on blue).`,
		Example: `  upshift bluegreen shop --to 1.37 -f bluegreen.yaml
  upshift bluegreen shop --to 1.37 -f bluegreen.yaml --fleet fleet.yaml --name shop-137`,
		Args: exactArgs(1, "CLUSTER"),
		RunE: runE(o),
	}
	o.addFlags(cmd, "bluegreen", "blueGreen settings: traffic, sync, freeze, validation, postSwitch, blueSoak, keepBlue")
	return cmd
}

func (o *blueGreenOptions) Validate() error {
	var bg v1alpha1.BlueGreenSpec
	if err := o.validate("bluegreen", &bg); err != nil {
		return err
	}
	o.run = plan.BlueGreenRun(o.name, o.to, &bg)
	return nil
}

// runName is a command's run name: the --name given, or the command and
// cluster with the time.
func runName(command, clusterName, given string) string {
	if given != "" {
		return given
	}
	return fmt.Sprintf("%s-%s-%s", command, clusterName, time.Now().UTC().Format("20060102-150405"))
}

// blueGreenFleet is the one-cluster fleet of a bluegreen command.
func (o *runOptions) blueGreenFleet(clusterName string) ([]v1alpha1.Cluster, error) {
	if o.fleetFile == "" {
		return []v1alpha1.Cluster{fleet.Local(clusterName)}, nil
	}
	all, err := fleet.Load(o.fleetFile)
	if err != nil {
		return nil, usageError{Err: err}
	}
	for _, c := range all {
		if c.Name == clusterName {
			return []v1alpha1.Cluster{c}, nil
		}
	}
	return nil, usagef("%s has no cluster %q", o.fleetFile, clusterName)
}

// AnnotationFleetFile records, on a run, the fleet file a blue-green run
// rewrites when green replaces blue, so a resumed run still does.
const AnnotationFleetFile = "upshift.dev/fleet-file"

// followFleetFile makes a blue-green or canary run started from a fleet file rewrite
// that file as green replaces blue, now and when resumed.
func (o *runOptions) followFleetFile(e *engine.Engine, run *v1alpha1.UpdateRun) error {
	if o.fleetFile == "" || (run.Spec.Method != v1alpha1.MethodBlueGreen && run.Spec.Method != v1alpha1.MethodCanary) {
		return nil
	}
	abs, err := filepath.Abs(o.fleetFile)
	if err != nil {
		return err
	}
	if run.Annotations == nil {
		run.Annotations = map[string]string{}
	}
	run.Annotations[AnnotationFleetFile] = abs
	e.OnReplaced = func(clusterName string, field []string, green string) error {
		return fleet.SetName(abs, clusterName, field, green)
	}
	return nil
}

type rollbackOptions struct{ namedRunOptions }

func newRollbackCommand(s Streams) *cobra.Command {
	o := &rollbackOptions{namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "rollback RUN",
		Short: "Send a blue-green or canary run's traffic back to blue and lift the freeze; green is kept",
		Long: `Roll a blue-green run back at any phase before blue is destroyed: the cluster
name's traffic goes back to blue (verified through the provider), the freeze on
blue's deployers is lifted, and green stays for inspection. If another process
drives the run, it is told to roll back and this command waits for it.

` + "`upshift resume RUN`" + ` later syncs green again and retries the switch.

Exit codes: 0 rolled back; 1 the rollback failed; 2 bad input.`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	o.addReportOutput(cmd)
	return cmd
}

func (o *rollbackOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	if o.onHub() {
		return o.request(ctx, o.name, v1alpha1.StateRollback)
	}
	e, err := o.frozen(o.name)
	if err != nil {
		return err
	}
	run, err := e.Rollback(ctx, o.name)
	if run != nil {
		o.report(run)
	}
	var invalid *engine.InvalidError
	if errors.As(err, &invalid) {
		return usageError{Err: err}
	}
	if err != nil {
		return err
	}
	o.printer.Success("run %s rolled back: traffic is on blue", o.name)
	return nil
}

// writeBlueGreen renders a cluster's blue-green move: baseline, sync,
// drift, switch, rollback, retirement.
func writeBlueGreen(w io.Writer, bg *v1alpha1.BlueGreenStatus) {
	fmt.Fprintf(w, "      blue-green: blue %s → green %s\n", bg.Blue, bg.Green)
	if b := bg.Baseline; b != nil {
		fmt.Fprintf(w, "        baseline: %s, %d pool(s); probe %d requests, %d failed, %d req/s, p50 %s, p95 %s\n", b.KubernetesVersion, len(b.NodePools), b.Requests, b.Failed, b.RatePerSec, b.P50, b.P95)
	}
	if bg.FreezeApplied != nil {
		lifted := "still frozen"
		if bg.FreezeLifted != nil {
			lifted = "lifted " + bg.FreezeLifted.UTC().Format("15:04:05")
		}
		fmt.Fprintf(w, "        freeze: applied %s, %s\n", bg.FreezeApplied.UTC().Format("15:04:05"), lifted)
	}
	if bg.Synced > 0 {
		fmt.Fprintf(w, "        sync: %d object(s); drift: %d\n", bg.Synced, len(bg.Drift))
		for _, d := range bg.Drift {
			obj := d.Name
			if d.Namespace != "" {
				obj = d.Namespace + "/" + d.Name
			}
			fmt.Fprintf(w, "          %-12s %-40s %s\n", d.Kind, obj, d.Problem)
		}
	}
	if bg.LoadComparison != "" {
		fmt.Fprintf(w, "        load comparison: %s\n", bg.LoadComparison)
	}
	if bg.SwitchDuration != nil {
		fmt.Fprintf(w, "        switch: %s at %s\n", bg.SwitchDuration.Duration.Round(time.Millisecond), bg.Switched.UTC().Format("15:04:05"))
	}
	if bg.PostSwitch != "" {
		fmt.Fprintf(w, "        post-switch: %s\n", bg.PostSwitch)
	}
	if bg.RolledBack != nil {
		fmt.Fprintf(w, "        rolled back at %s: %s\n", bg.RolledBack.UTC().Format("15:04:05"), bg.RollbackReason)
	}
	if bg.BlueDeleted != nil {
		fmt.Fprintf(w, "        blue destroyed at %s\n", bg.BlueDeleted.UTC().Format("15:04:05"))
	}
}
