package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/drainsim"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/exitcode"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/notify"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

// runOptions are shared by the update-run commands.
type runOptions struct {
	streams   Streams
	home      string
	runFile   string
	fleetFile string
	stages    string
	printer   *printer.Printer
	// metricsListen serves the runs' metrics while a run is driven.
	metricsListen string
	// hub names the kubeconfig context of a hub that keeps the runs
	// (openHub sets runs); empty: the home's files.
	hub, hubKubeconfig, hubNamespace string
	runs                             store.Runs
	// reportOutput is how the final report is printed: table for people,
	// or the run (UpdateRun and status) as json or yaml.
	reportOutput choice
}

// addReportOutput adds -o to a command that ends with a run's report.
func (o *runOptions) addReportOutput(cmd *cobra.Command) {
	o.reportOutput = choice{value: outputTable, allowed: []string{outputTable, outputJSON, outputYAML}}
	cmd.Flags().VarP(&o.reportOutput, "output", "o", "the final report: table, or the run with its status as json or yaml on stdout (progress stays on stderr)")
}

// humanOut is where a driving command prints what is for people alone
// (the plan): stdout, or stderr when stdout carries the run as data.
func (o *runOptions) humanOut() io.Writer {
	if f := o.reportOutput.value; f == outputJSON || f == outputYAML {
		return o.streams.Err
	}
	return o.streams.Out
}

// report prints a run's final report.
func (o *runOptions) report(run *v1alpha1.UpdateRun) {
	if f := o.reportOutput.value; f == outputJSON || f == outputYAML {
		_ = writeData(o.streams.Out, f, run)
		return
	}
	fmt.Fprintln(o.streams.Out)
	writeRunReport(o.streams.Out, run)
}

// addMetrics adds --metrics-listen to a command that drives a run.
func (o *runOptions) addMetrics(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics of the home's runs on this address (e.g. 127.0.0.1:9464) while the run is driven")
}

func (o *runOptions) addHome(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.home, "home", localfleet.DefaultHome(), "state folder: runs and the local fleet ($UPSHIFT_HOME)")
}

func (o *runOptions) addInputs(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.runFile, "filename", "f", "", "run file: an UpdateRun and the UpdateStrategy it names (required)")
	cmd.Flags().StringVar(&o.fleetFile, "fleet", "", "fleet file of upshift.dev/v1alpha1 Cluster objects (required)")
	cmd.Flags().StringVar(&o.stages, "stages", "", "Azure Fleet stages JSON (az fleet updaterun create --stages), used as the strategy")
}

// store is where runs are kept: the hub's once openHub found one, else
// the home's files.
func (o *runOptions) store() store.Runs {
	if o.runs != nil {
		return o.runs
	}
	return &store.Store{Dir: o.home}
}

// engine builds an engine over a fleet, each cluster resolved through
// the registered provider its spec names.
func (o *runOptions) engine(clusters []v1alpha1.Cluster) *engine.Engine {
	// Blue-green runs create clusters: the fleet runs their ingress
	// daemons from this program.
	self, _ := selfCommand()
	return &engine.Engine{
		Store:    o.store(),
		Fleet:    clusters,
		Resolve:  fleetmember.NewResolver(fleetmember.Env{Home: o.home, CacheDir: toolchain.DefaultCacheDir(), Self: self}),
		Progress: o.progress,
	}
}

func (o *runOptions) progress(ev engine.Event) {
	where := ev.Stage
	if where == "" {
		where = "run"
	}
	if ev.Cluster != "" {
		where += "/" + ev.Cluster
	}
	if ev.Step != "" {
		where += " " + ev.Step
	}
	msg := fmt.Sprintf("[%s] %s", where, ev.Message)
	switch ev.Type {
	case "Completed", "Approved":
		o.printer.Success("%s", msg)
	case "Failed", "Stopped":
		o.printer.Failure("%s", msg)
	case "Waiting":
		o.printer.Waiting("%s", msg)
	default:
		o.printer.Action("%s", msg)
	}
}

// load reads the run file, its strategy and the fleet.
func (o *runOptions) load() (*v1alpha1.UpdateRun, *v1alpha1.UpdateStrategySpec, []v1alpha1.Cluster, error) {
	if o.runFile == "" || o.fleetFile == "" {
		return nil, nil, nil, usagef("-f RUN_FILE and --fleet FLEET_FILE are required")
	}
	run, strategy, err := o.loadRun()
	if err != nil {
		return nil, nil, nil, err
	}
	fleetData, err := os.ReadFile(o.fleetFile)
	if err != nil {
		return nil, nil, nil, usageError{Err: err}
	}
	clusters, err := fleet.Parse(o.fleetFile, fleetData)
	if err != nil {
		return nil, nil, nil, usageError{Err: err}
	}
	return run, strategy, clusters, nil
}

// loadRun reads the run file and its strategy (or --stages).
func (o *runOptions) loadRun() (*v1alpha1.UpdateRun, *v1alpha1.UpdateStrategySpec, error) {
	if o.runFile == "" {
		return nil, nil, usagef("-f RUN_FILE is required")
	}
	data, err := os.ReadFile(o.runFile)
	if err != nil {
		return nil, nil, usageError{Err: err}
	}
	docs, err := plan.Parse(o.runFile, data)
	if err != nil {
		return nil, nil, usageError{Err: err}
	}
	run := docs.Run
	strategy := run.Spec.Strategy
	if ref := run.Spec.StrategyRef; ref != nil {
		s, ok := docs.Strategies[ref.Name]
		if !ok {
			return nil, nil, usagef("%s: spec.strategyRef names UpdateStrategy %q, which the file does not hold", o.runFile, ref.Name)
		}
		strategy = &s.Spec
	}
	if strategy != nil {
		if err := plan.NormalizeAzureGates(o.runFile, strategy); err != nil {
			return nil, nil, usageError{Err: err}
		}
	}
	if o.stages != "" {
		js, err := os.ReadFile(o.stages)
		if err != nil {
			return nil, nil, usageError{Err: err}
		}
		if strategy, err = plan.ParseAzureStages(o.stages, js); err != nil {
			return nil, nil, usageError{Err: err}
		}
		run.Spec.Strategy, run.Spec.StrategyRef = strategy, nil
	}
	if dir, err := filepath.Abs(filepath.Dir(o.runFile)); err == nil {
		if run.Annotations == nil {
			run.Annotations = map[string]string{}
		}
		run.Annotations[v1alpha1.AnnotationWorkDir] = dir // Command gates run here, on resume too
	}
	return run, strategy, nil
}

// initialize stores a new run with its plan and frozen fleet; a blue-green
// run started from a fleet file will rewrite that file.
func (o *runOptions) initialize(ctx context.Context, e *engine.Engine, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec) (*plan.Plan, error) {
	if err := o.followFleetFile(e, run); err != nil {
		return nil, err
	}
	p, err := e.Initialize(ctx, run, strategy)
	if err != nil {
		return nil, initError(err)
	}
	return p, nil
}

// startOptions are `upshift run`'s.
type startOptions struct {
	runOptions
	run      *v1alpha1.UpdateRun
	strategy *v1alpha1.UpdateStrategySpec
	clusters []v1alpha1.Cluster
	// requireWindowFit refuses a run whose node pools are predicted to
	// outlast their maintenance windows (run --require-window-fit).
	requireWindowFit bool
}

func newRunCommand(s Streams) *cobra.Command {
	o := &startOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "run -f RUN_FILE --fleet FLEET_FILE [--stages STAGES_JSON]",
		Short: "Start an update run and drive it in the foreground to its end",
		Long: `Start an update run: validate it against the fleet, freeze the plan, and drive it
stage by stage with live progress, then print the report.

Kill it at any moment and run ` + "`upshift resume RUN`" + `: it carries on where it was and
does nothing twice. Approve, skip or stop it from another terminal.

With --require-window-fit, each node pool's upgrade is first replayed as
upshift plan --simulate does, and the run is refused (exit 2, nothing
started) when a pool is predicted to outlast the maintenance window its
step waits for, or cannot be replayed.

Exit codes: 0 completed; 1 failed; 2 bad input (nothing changed); 10 stopped.`,
		Example: `  upshift run -f run.yaml --fleet fleet.yaml
  upshift run -f run.yaml --fleet fleet.yaml --stages upgrade-stages.json
  upshift run -f run.yaml --fleet fleet.yaml --require-window-fit`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	o.addHome(cmd)
	o.addInputs(cmd)
	o.addMetrics(cmd)
	o.addHub(cmd)
	o.addReportOutput(cmd)
	cmd.Flags().BoolVar(&o.requireWindowFit, "require-window-fit", false, "refuse to start when a node pool is predicted to outlast its maintenance window")
	return cmd
}

func (o *startOptions) Complete(*cobra.Command, []string) error {
	o.printer = printer.New(o.streams.Err)
	return nil
}

// Validate reads the run file, its strategy and, without a hub, the fleet.
func (o *startOptions) Validate() error {
	var err error
	if o.hub != "" {
		if o.requireWindowFit {
			return usagef("--require-window-fit replays pools from this machine: run `upshift plan --simulate` against the fleet, then submit without it")
		}
		if o.fleetFile != "" {
			return usagef("--fleet is not used with --hub: the hub's fleet is the Cluster objects of namespace %s (kubectl -n %s apply -f %s)", o.hubNamespace, o.hubNamespace, o.fleetFile)
		}
		o.run, o.strategy, err = o.loadRun()
		return err
	}
	o.run, o.strategy, o.clusters, err = o.load()
	return err
}

func (o *startOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	if o.hub != "" {
		return o.submit(ctx, o.run, o.strategy)
	}
	e := o.engine(o.clusters)
	if o.requireWindowFit {
		if err := o.checkWindowFit(ctx, e); err != nil {
			return err
		}
	}
	p, err := o.initialize(ctx, e, o.run, o.strategy)
	if err != nil {
		return err
	}
	printPlan(o.humanOut(), viewOf(p, nil))
	if o.run.Spec.State == v1alpha1.StateInitialize {
		o.printer.Success("run %s initialized; start it with `upshift resume %s`", o.run.Name, o.run.Name)
		return nil
	}
	return o.drive(ctx, e, o.run.Name)
}

// checkWindowFit replays the run's pools and refuses the run when one is
// predicted to outlast its window, or cannot be replayed.
func (o *startOptions) checkWindowFit(ctx context.Context, e *engine.Engine) error {
	p, err := e.Plan(ctx, o.run, o.strategy)
	if err != nil {
		return initError(err)
	}
	runs, err := o.store().List()
	if err != nil {
		return fmt.Errorf("reading this home's runs for measured timings: %w", err)
	}
	var misfits []string
	for _, sim := range e.SimulatePools(ctx, o.run, o.strategy, p, engine.Timings(drainsim.History(runs))) {
		switch {
		case sim.Result == nil:
			misfits = append(misfits, fmt.Sprintf("cluster %s, pool %s cannot be replayed: %s", sim.Cluster, sim.Pool, sim.Error))
		case sim.Window != nil && !sim.Window.Fits:
			misfits = append(misfits, fmt.Sprintf("cluster %s, pool %s %s", sim.Cluster, sim.Pool, sim.Window.Message))
		case sim.Window != nil:
			o.printer.Action("cluster %s, pool %s %s", sim.Cluster, sim.Pool, sim.Window.Message)
		}
	}
	if len(misfits) > 0 {
		return usagef("run %s is refused (--require-window-fit); nothing was started:\n  %s", o.run.Name, strings.Join(misfits, "\n  "))
	}
	return nil
}

func (o *runOptions) drive(ctx context.Context, e *engine.Engine, name string) error {
	if o.metricsListen != "" {
		stop, err := serveMetrics(o.metricsListen, o.store())
		if err != nil {
			return err
		}
		defer stop()
		o.printer.Action("metrics of the runs on http://%s/metrics", o.metricsListen)
	}
	if stored, err := o.store().Get(name); err == nil && len(stored.Spec.Notifications) > 0 {
		n, err := notify.New(stored, stored.Annotations[v1alpha1.AnnotationWorkDir], func(ev store.Event) { _ = o.store().Audit(name, ev) }, notify.DefaultRetry)
		if err != nil {
			return usageError{Err: err}
		}
		defer func() {
			// What is queued gets a few seconds to go out; the audit log
			// says what did not.
			flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			n.Close(flush)
		}()
		show := e.Progress
		e.Progress = func(ev engine.Event) {
			if show != nil {
				show(ev)
			}
			if no, ok := notify.FromEvent(name, ev); ok {
				n.Send(no)
			}
		}
	}
	start := time.Now()
	run, err := e.Drive(ctx, name)
	if run != nil {
		o.report(run)
	}
	switch {
	case err == nil:
		o.printer.Success("run %s completed in %s", name, time.Since(start).Round(time.Second))
		return nil
	case errors.Is(err, engine.ErrRolledBack):
		o.printer.Failure("run %s rolled back: traffic is on blue; green is kept; `upshift resume %s` syncs and switches again", name, name)
		return exitCode(ExitRolledBack)
	case errors.Is(err, engine.ErrStatusNotSaved):
		o.printer.Failure("run %s stopped: %s", name, strings.TrimPrefix(err.Error(), engine.ErrStopped.Error()+": "))
		return exitCode(ExitStopped)
	case errors.Is(err, engine.ErrCancelled):
		o.printer.Failure("run %s was cancelled: nothing more will be done; its clusters stay as they are", name)
		return exitCode(ExitStopped)
	case errors.Is(err, engine.ErrStopped):
		o.printer.Failure("run %s stopped: resume it with `upshift resume %s`", name, name)
		return exitCode(ExitStopped)
	case errors.Is(err, store.ErrLocked):
		return usageError{Err: err}
	}
	return err
}

// frozen builds an engine for a stored run over the fleet it started with.
func (o *runOptions) frozen(name string) (*engine.Engine, error) {
	data, err := o.store().Fleet(name)
	if err != nil {
		if _, getErr := o.store().Get(name); getErr != nil {
			return nil, usageError{Err: getErr}
		}
		return nil, fmt.Errorf("run %s has no frozen fleet: %w", name, err)
	}
	clusters, err := fleet.Parse(name+"/fleet.yaml", data)
	if err != nil {
		return nil, err
	}
	e := o.engine(clusters)
	if run, _ := o.store().Get(name); run != nil { // a recovered status still has the spec
		if path := run.Annotations[AnnotationFleetFile]; path != "" {
			e.OnReplaced = func(clusterName string, field []string, green string) error {
				return fleet.SetName(path, clusterName, field, green)
			}
		}
	}
	return e, nil
}

// namedRunOptions are those of a command about one stored run.
type namedRunOptions struct {
	runOptions
	name string
}

func (o *namedRunOptions) Complete(_ *cobra.Command, args []string) error {
	o.printer = printer.New(o.streams.Err)
	o.name = args[0]
	return nil
}

// Validate refuses a run name that could never have been stored.
func (o *namedRunOptions) Validate() error { return names.Subdomain("run", o.name) }

type resumeOptions struct {
	namedRunOptions
	overrideWindows bool
	reason          string
}

func newResumeCommand(s Streams) *cobra.Command {
	o := &resumeOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "resume RUN [--override-maintenance-windows --reason TEXT]",
		Short: "Drive a stopped, failed, initialized or interrupted run on from where it is",
		Long: `Drive a run on from where it is: what completed is not redone, what failed
is tried again. The run keeps the spec and fleet it started with; a run whose
spec was wrong is cancelled (upshift cancel) or deleted (upshift delete) and
started anew.

An emergency patch (upshift patch) held by a closed maintenance window can be
given the override here, as patch's own flag does: --override-maintenance-windows
needs --reason, and the audit trail records who and why. A driver already
waiting for the window takes the override at its next look.`,
		Example: `  upshift resume fleet-to-1-37
  upshift resume patch-aks-ubuntu-2204-202612 --override-maintenance-windows --reason "CVE-2026-4242 exploited"`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addMetrics(cmd)
	o.addHub(cmd)
	o.addReportOutput(cmd)
	cmd.Flags().BoolVar(&o.overrideWindows, "override-maintenance-windows", false, "let an emergency patch's steps start outside maintenance windows (needs --reason; recorded in the audit trail)")
	cmd.Flags().StringVar(&o.reason, "reason", "", "why the windows are overridden, for the audit trail")
	return cmd
}

func (o *resumeOptions) Validate() error {
	if err := o.namedRunOptions.Validate(); err != nil {
		return err
	}
	if o.overrideWindows && strings.TrimSpace(o.reason) == "" {
		return usagef("--override-maintenance-windows needs --reason: the audit trail records why windows were overridden")
	}
	if !o.overrideWindows && o.reason != "" {
		return usagef("--reason goes with --override-maintenance-windows")
	}
	return nil
}

func (o *resumeOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	if o.overrideWindows {
		if err := o.override(); err != nil {
			return err
		}
		if probe, ok := o.store().(driverProbe); ok {
			if driven, err := probe.Driven(o.name); err == nil && driven {
				o.printer.Success("run %s is driven by another process: it takes the override at its next look", o.name)
				return nil
			}
		}
	}
	if o.hub != "" {
		return o.request(ctx, o.name, v1alpha1.StateRun)
	}
	e, err := o.frozen(o.name)
	if err != nil {
		return err
	}
	if err := o.store().SetState(o.name, v1alpha1.StateRun); err != nil {
		if errors.Is(err, store.ErrCancelled) {
			return usageError{Err: err}
		}
		return err
	}
	return o.drive(ctx, e, o.name)
}

// override marks an emergency patch run to start its steps outside
// maintenance windows, and audits who asked and why.
func (o *resumeOptions) override() error {
	run, err := o.store().Get(o.name)
	if err != nil {
		return usageError{Err: err}
	}
	if run.Spec.Patch == nil {
		return usagef("run %s is not an emergency patch: only runs of `upshift patch` may override maintenance windows; wait for the window, or skip the held cluster (upshift skip %s --cluster CLUSTER)", o.name, o.name)
	}
	by := currentUser()
	run.Spec.Patch.OverrideMaintenanceWindows, run.Spec.Patch.Reason, run.Spec.Patch.RequestedBy = true, o.reason, by
	run.Status = v1alpha1.UpdateRunStatus{}
	if err := o.store().SaveSpec(run); err != nil {
		return err
	}
	if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventWindowsOverride, Message: fmt.Sprintf("maintenance windows overridden by %s: %s", by, o.reason)}); err != nil {
		o.printer.Waiting("the override is recorded, but not its audit line: %v", err)
	}
	o.printer.Action("maintenance windows overridden for run %s (%s)", o.name, o.reason)
	return nil
}

type planOptions struct {
	startOptions
	output   string
	simulate bool
}

func newPlanCommand(s Streams) *cobra.Command {
	o := &planOptions{startOptions: startOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "plan -f RUN_FILE --fleet FLEET_FILE [--stages STAGES_JSON] [--simulate [-o sarif|junit]] [-o table|json|yaml]",
		Short: "Show what a run would do — stages, groups, clusters, steps — without doing it",
		Long: `Show what a run would do — stages, groups, clusters, steps — without doing it.

With --simulate, each NodePool step is replayed against its cluster as it
is now, read-only: the surge nodes the upgrade adds, the old nodes drained
in the order and batches it uses, each eviction checked against the
PodDisruptionBudgets as they will stand then, each evicted pod's
replacement placed on the nodes left (requests, selectors and affinity,
taints, anti-affinity), and the first eviction of each workload confirmed
with a server-side dry-run eviction. It names what will block the drain
(batch, node, pod, budget, what to change) and predicts how long the pool
takes, from this home's measured runs of the provider or from defaults;
each figure says which. With -o sarif or junit, only the replay's
blockers (errors) and warnings are written, as the scan writes findings,
for a pipeline's code-scanning view. Exit 12 when a drain is predicted not
to finish.`,
		Example: `  upshift plan -f run.yaml --fleet fleet.yaml --simulate`,
		Args:    exactArgs(0, ""),
		RunE:    runE(o),
	}
	o.addHome(cmd)
	o.addInputs(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml; with --simulate also sarif or junit (the replay's findings alone)")
	cmd.Flags().BoolVar(&o.simulate, "simulate", false, "replay each node pool's upgrade against its cluster, read-only: blockers and duration")
	return cmd
}

func (o *planOptions) Validate() error {
	if o.output == "sarif" || o.output == "junit" {
		if !o.simulate {
			return usagef("-o %s writes the findings of --simulate: add --simulate, or use -o table|json|yaml", o.output)
		}
		return o.startOptions.Validate()
	}
	if err := validateOutput(o.output, outputTable, outputJSON, outputYAML); err != nil {
		return err
	}
	return o.startOptions.Validate()
}

// planView is a plan as plan prints it, and as -o json|yaml writes it:
// each step by its name.
type planView struct {
	NodeImage string          `json:"nodeImage,omitempty"`
	Stages    []planStageView `json:"stages"`
}

type planStageView struct {
	Name           string               `json:"name"`
	MaxConcurrency string               `json:"maxConcurrency"`
	Before         []v1alpha1.StageTask `json:"beforeStageTasks,omitempty"`
	After          []v1alpha1.StageTask `json:"afterStageTasks,omitempty"`
	Groups         []planGroupView      `json:"groups"`
}

type planGroupView struct {
	Name     string            `json:"name"`
	Clusters []planClusterView `json:"clusters"`
}

type planClusterView struct {
	Name        string   `json:"name"`
	FromVersion string   `json:"fromVersion"`
	Steps       []string `json:"steps"`
	Notes       []string `json:"notes,omitempty"`
	// Simulations are the replays of its NodePool steps (--simulate).
	Simulations []drainsim.Replay `json:"simulations,omitempty"`
}

func viewOf(p *plan.Plan, sims []drainsim.Replay) planView {
	v := planView{NodeImage: p.NodeImage, Stages: []planStageView{}}
	for _, st := range p.Stages {
		sv := planStageView{Name: st.Name, MaxConcurrency: st.MaxConcurrency.String(), Before: st.Before, After: st.After, Groups: []planGroupView{}}
		for _, g := range st.Groups {
			gv := planGroupView{Name: g.Name, Clusters: []planClusterView{}}
			for _, c := range g.Clusters {
				cv := planClusterView{Name: c.Name, FromVersion: c.FromVersion, Steps: []string{}, Notes: c.Notes}
				for _, step := range c.Steps {
					cv.Steps = append(cv.Steps, step.Name())
				}
				for _, sim := range sims {
					if sim.Cluster == c.Name {
						cv.Simulations = append(cv.Simulations, sim)
					}
				}
				gv.Clusters = append(gv.Clusters, cv)
			}
			sv.Groups = append(sv.Groups, gv)
		}
		v.Stages = append(v.Stages, sv)
	}
	return v
}

func (o *planOptions) Run(ctx context.Context) error {
	eng := o.engine(o.clusters)
	p, err := eng.Plan(ctx, o.run, o.strategy)
	if err != nil {
		return initError(err)
	}
	var sims []drainsim.Replay
	if o.simulate {
		runs, err := o.store().List()
		if err != nil {
			return fmt.Errorf("reading this home's runs for measured timings: %w", err)
		}
		sims = eng.SimulatePools(ctx, o.run, o.strategy, p, engine.Timings(drainsim.History(runs)))
	}
	v := viewOf(p, sims)
	switch o.output {
	case "sarif", "junit":
		if err := drainsim.Report(sims).Write(o.streams.Out, o.output); err != nil {
			return err
		}
	case outputTable:
		printPlan(o.streams.Out, v)
	default:
		if err := writeData(o.streams.Out, o.output, v); err != nil {
			return err
		}
	}
	for _, sim := range sims {
		if sim.Result != nil && len(sim.Blockers) > 0 {
			return exitCode(exitcode.DrainBlocked)
		}
	}
	return nil
}

func printPlan(w io.Writer, v planView) {
	if v.NodeImage != "" {
		fmt.Fprintf(w, "node image: %s\n", v.NodeImage)
	}
	for i, st := range v.Stages {
		fmt.Fprintf(w, "stage %d: %s (maxConcurrency %s per group)\n", i+1, st.Name, st.MaxConcurrency)
		for _, t := range st.Before {
			fmt.Fprintf(w, "  before: %s\n", describeTask(t))
		}
		for _, g := range st.Groups {
			fmt.Fprintf(w, "  group %s\n", g.Name)
			for _, c := range g.Clusters {
				fmt.Fprintf(w, "    %s (%s): %s\n", c.Name, c.FromVersion, strings.Join(c.Steps, " → "))
				for _, n := range c.Notes {
					fmt.Fprintf(w, "      note: %s\n", n)
				}
				for _, sim := range c.Simulations {
					printSimulation(w, sim)
				}
			}
		}
		for _, t := range st.After {
			fmt.Fprintf(w, "  after: %s\n", describeTask(t))
		}
	}
}

// printSimulation writes one pool's replay under its cluster.
func printSimulation(w io.Writer, sim drainsim.Replay) {
	if sim.Result == nil {
		fmt.Fprintf(w, "      simulation of pool %s: not done: %s\n", sim.Pool, sim.Error)
		return
	}
	r := sim.Result
	fmt.Fprintf(w, "      simulation of pool %s: %d of %d node(s) replaced, maxSurge %d: %d batch(es), %d eviction(s), %d dry-run eviction(s)\n",
		sim.Pool, r.Replaced, r.Nodes, r.MaxSurge, len(r.Batches), r.Evictions, sim.DryRuns)
	for _, b := range r.Blockers {
		fmt.Fprintf(w, "        BLOCKED batch %d, node %s, pod %s: %s\n          fix: %s\n", b.Batch, b.Node, b.Pod, b.Reason, b.Fix)
		if b.Confirmed != "" {
			fmt.Fprintf(w, "          the API server refuses it now: %s\n", b.Confirmed)
		}
	}
	for _, f := range r.Warnings {
		fmt.Fprintf(w, "        warning batch %d, node %s, pod %s: %s\n          fix: %s\n", f.Batch, f.Node, f.Pod, f.Reason, f.Fix)
	}
	if sim.Error != "" {
		fmt.Fprintf(w, "        incomplete: %s\n", sim.Error)
	}
	if d := r.Duration; d != nil {
		ends := "then done"
		if len(r.Blockers) > 0 {
			ends = "then done, the blocked node(s) left cordoned (undrainableNodeBehavior Cordon)"
		}
		if d.Fails {
			ends = fmt.Sprintf("then the upgrade fails in batch %d, after its drain timeout", r.StopsAt)
		}
		fmt.Fprintf(w, "        duration: about %s, at worst %s; %s\n", drainsim.Short(d.Expected), drainsim.Short(d.AtWorst), ends)
		fmt.Fprintf(w, "          node ready %s, drain %s: %s\n", figure(d.Timings.NodeReady), figure(d.Timings.Drain), d.Timings.Drain.Source)
		if d.Timings.NodeReady.Source != d.Timings.Drain.Source {
			fmt.Fprintf(w, "          node ready: %s\n", d.Timings.NodeReady.Source)
		}
	}
	if sim.Window != nil {
		fmt.Fprintf(w, "        window: %s\n", sim.Window.Message)
	}
}

func figure(f drainsim.Figure) string {
	return fmt.Sprintf("p50 %s p95 %s", drainsim.Short(f.P50), drainsim.Short(f.P95))
}

func describeTask(t v1alpha1.StageTask) string {
	switch t.Type {
	case v1alpha1.TaskTimedWait:
		return "wait " + t.WaitTime.Duration.String()
	case v1alpha1.TaskGate:
		return "gate " + t.Gate.Name + " (" + t.Gate.Type + ")"
	case v1alpha1.TaskApproval:
		return strings.TrimSpace("approval " + t.Name)
	}
	return t.Type
}

type statusOptions struct {
	namedRunOptions
	output  string
	watch   bool
	timeout time.Duration
}

func newStatusCommand(s Streams) *cobra.Command {
	o := &statusOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "status RUN [-o table|json|yaml] [--watch [--timeout D]]",
		Short: "Show a run's status tree: stages, clusters, steps, with times",
		Long: `Show a run's status tree: stages, clusters, steps, with times.

With --watch, follow the run until it ends, printing what changes, then its
report, and exit as run does, so a pipeline can wait on a run another
process or a hub drives: 0 completed, 1 failed, 10 stopped or cancelled (or
its driver is gone), 11 rolled back, 3 when --timeout ran out first (the run
goes on).`,
		Example: `  upshift status fleet-to-1-37
  upshift status fleet-to-1-37 --watch --timeout 2h --hub hub`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "follow the run until it ends, and exit as run does")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "with --watch: give up after this long (exit 3; the run goes on); 0 waits as long as it takes")
	return cmd
}

func (o *statusOptions) Validate() error {
	if err := o.namedRunOptions.Validate(); err != nil {
		return err
	}
	if o.timeout != 0 && !o.watch {
		return usagef("--timeout goes with --watch")
	}
	if o.watch && o.output != outputTable {
		return usagef("--watch prints progress and a report: leave -o out, and read the object after it (upshift status %s -o %s)", o.name, o.output)
	}
	return validateOutput(o.output, outputTable, outputJSON, outputYAML)
}

func (o *statusOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	if o.watch {
		if _, err := o.store().Get(o.name); err != nil {
			return usageError{Err: err}
		}
		if o.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, o.timeout)
			defer cancel()
		}
		return o.follow(ctx, o.name)
	}
	run, err := o.store().Get(o.name)
	var corrupt *store.CorruptError
	switch {
	case errors.As(err, &corrupt) && run != nil:
		// Show what could be read, and say which file is bad.
		_ = o.write(run)
		return err
	case err != nil:
		return usageError{Err: err}
	}
	return o.write(run)
}

func (o *statusOptions) write(run *v1alpha1.UpdateRun) error {
	if o.output != outputTable {
		return writeData(o.streams.Out, o.output, run)
	}
	writeRunReport(o.streams.Out, run)
	if orphaned(o.store(), run) {
		fmt.Fprintf(o.streams.Out, "  no process drives this run: it stopped where its driver was killed; `upshift resume %s` goes on from there\n", run.Name)
	}
	return nil
}

// driverProbe is a store that can tell whether a run has a live driver
// (the file store, through the driver's lock). The hub's store cannot
// without taking the lease, and its controller drives every run anyway.
type driverProbe interface {
	Driven(name string) (bool, error)
}

// orphaned is a run whose status says it is under way while no process
// drives it: the process was killed.
func orphaned(runs store.Runs, run *v1alpha1.UpdateRun) bool {
	probe, ok := runs.(driverProbe)
	if !ok || !underWay(run) {
		return false
	}
	driven, err := probe.Driven(run.Name)
	return err == nil && !driven
}

// settled is a run that ended or was stopped: no driver is expected.
func settled(run *v1alpha1.UpdateRun) bool {
	return run.Status.Ended() || run.Status.Phase == v1alpha1.PhaseStopped
}

// underWay is a run that started and has not settled: a driver is
// expected, and what it did is only partly done.
func underWay(run *v1alpha1.UpdateRun) bool {
	phase := run.Status.Phase
	return phase != "" && phase != v1alpha1.PhaseNotStarted && !settled(run)
}

// writeRunReport renders the status tree with durations.
func writeRunReport(w io.Writer, run *v1alpha1.UpdateRun) {
	st := run.Status
	fmt.Fprintf(w, "run %s: %s%s\n", run.Name, st.Phase, span(st.Start, st.End))
	if of := run.Annotations[v1alpha1.AnnotationRetryOf]; of != "" {
		fmt.Fprintf(w, "  retries run %s: the clusters it left undone, at its target\n", of)
	}
	if st.Message != "" {
		fmt.Fprintf(w, "  %s\n", st.Message)
	}
	for _, s := range st.Stages {
		fmt.Fprintf(w, "  stage %s: %s%s%s\n", s.Name, s.Phase, span(s.Start, s.End), msg(s.Message))
		for _, t := range s.BeforeTasks {
			fmt.Fprintf(w, "    before %s: %s%s%s\n", t.Name, t.Phase, taskSpan(t), msg(t.Message))
		}
		for _, c := range s.Clusters {
			fmt.Fprintf(w, "    cluster %s (group %s, from %s): %s%s%s\n", c.Name, c.Group, c.FromVersion, c.Phase, span(c.Start, c.End), msg(c.Message))
			for _, step := range c.Steps {
				fmt.Fprintf(w, "      %s: %s%s%s\n", step.Name, step.Phase, span(step.Start, step.End), msg(step.Message))
			}
			if c.BlueGreen != nil {
				writeBlueGreen(w, c.BlueGreen)
			}
			if c.Canary != nil {
				writeCanary(w, c.Canary)
			}
		}
		for _, t := range s.AfterTasks {
			fmt.Fprintf(w, "    after %s: %s%s%s\n", t.Name, t.Phase, taskSpan(t), msg(t.Message))
		}
	}
	if run.Spec.Patch != nil {
		writePatch(w, run)
	}
}

// span renders how long something took, or since when it runs.
func span(start, end *metav1.Time) string {
	switch {
	case start == nil:
		return ""
	case end == nil:
		return " (since " + start.UTC().Format("15:04:05") + ")"
	}
	return " (" + end.Sub(start.Time).Round(time.Second).String() + ")"
}

// taskSpan is who approved an approval task and when, or how long any
// other task took (or since when it runs).
func taskSpan(t v1alpha1.TaskStatus) string {
	if t.Type == v1alpha1.TaskApproval {
		return approved(t)
	}
	return span(t.Start, t.End)
}

func msg(m string) string {
	if m == "" {
		return ""
	}
	return " — " + m
}

func approved(t v1alpha1.TaskStatus) string {
	if t.ApprovedBy == "" {
		return ""
	}
	return fmt.Sprintf(" (approved by %s at %s)", t.ApprovedBy, t.ApprovedAt.UTC().Format(time.RFC3339))
}

type approveOptions struct {
	namedRunOptions
	stage, task, cluster, gate, by string
	key                            string
}

func newApproveCommand(s Streams) *cobra.Command {
	o := &approveOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:               "approve RUN --stage STAGE [--task TASK] | --cluster CLUSTER --gate GATE",
		Short:             "Approve a stage's approval task, or a cluster's approval gate",
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVar(&o.stage, "stage", "", "stage whose approval tasks to approve")
	_ = cmd.RegisterFlagCompletionFunc("stage", o.completeOfRun(true))
	cmd.Flags().StringVar(&o.task, "task", "", "one approval task of the stage (default: all of them)")
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "cluster whose approval gate to approve")
	_ = cmd.RegisterFlagCompletionFunc("cluster", o.completeOfRun(false))
	cmd.Flags().StringVar(&o.gate, "gate", "", "the approval gate's name")
	cmd.Flags().StringVar(&o.by, "by", "", "who approves (default: the current user)")
	return cmd
}

func (o *approveOptions) Validate() error {
	if err := o.namedRunOptions.Validate(); err != nil {
		return err
	}
	switch {
	case o.stage != "" && o.cluster == "":
		o.key = stageKey(o.stage, o.task)
	case o.cluster != "" && o.stage == "" && o.gate != "":
		o.key = store.ClusterGateKey(o.cluster, o.gate)
	default:
		return usagef("name a --stage (and optionally --task), or a --cluster and its --gate")
	}
	return nil
}

func (o *approveOptions) Run(ctx context.Context) error {
	run, err := o.readRequested(ctx)
	if err != nil {
		return err
	}
	if err := engine.CheckApproval(run, o.stage, o.task, o.cluster, o.gate); err != nil {
		return usageError{Err: err}
	}
	osUser := currentUser()
	by := o.by
	if by == "" {
		by = osUser
	}
	if err := o.store().Approve(o.name, store.Approval{Key: o.key, By: by, OSUser: osUser, Time: time.Now().UTC()}); err != nil {
		return usageError{Err: err}
	}
	if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventApproved, Message: fmt.Sprintf("%s approved by %s (OS user %s)", o.key, by, osUser)}); err != nil {
		return fmt.Errorf("the approval is recorded, but not its audit line: %w", err)
	}
	o.printer.Success("approved %s of run %s as %s", o.key, o.name, by)
	return nil
}

// readRequested reads the run an approval, skip or promotion names, to
// check the request against; a status recovered from the previous write
// is good enough for that. A run that cannot be read is bad input.
func (o *namedRunOptions) readRequested(ctx context.Context) (*v1alpha1.UpdateRun, error) {
	if err := o.openHub(ctx); err != nil {
		return nil, err
	}
	run, err := o.store().Get(o.name)
	var corrupt *store.CorruptError
	if errors.As(err, &corrupt) && corrupt.Recovered {
		return run, nil
	}
	if err != nil {
		return nil, usageError{Err: err}
	}
	return run, nil
}

// stageKey is the key of a whole stage, or of one of its tasks.
func stageKey(stage, task string) string {
	if task == "" {
		return store.StageKey(stage)
	}
	return store.StageTaskKey(stage, task)
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

type skipOptions struct {
	namedRunOptions
	stage, task, cluster string
	key                  string
}

func newSkipCommand(s Streams) *cobra.Command {
	o := &skipOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:               "skip RUN --cluster CLUSTER | --stage STAGE [--task TASK]",
		Short:             "Skip a cluster, a whole stage, or a stage's wait or approval",
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVar(&o.stage, "stage", "", "stage to skip")
	_ = cmd.RegisterFlagCompletionFunc("stage", o.completeOfRun(true))
	cmd.Flags().StringVar(&o.task, "task", "", "one task of the stage to skip (a wait or an approval)")
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "cluster to skip")
	_ = cmd.RegisterFlagCompletionFunc("cluster", o.completeOfRun(false))
	return cmd
}

func (o *skipOptions) Validate() error {
	if err := o.namedRunOptions.Validate(); err != nil {
		return err
	}
	switch {
	case o.cluster != "" && o.stage == "" && o.task == "":
		o.key = store.ClusterKey(o.cluster)
	case o.stage != "" && o.cluster == "":
		o.key = stageKey(o.stage, o.task)
	default:
		return usagef("name a --cluster, or a --stage (and optionally its --task)")
	}
	return nil
}

func (o *skipOptions) Run(ctx context.Context) error {
	run, err := o.readRequested(ctx)
	if err != nil {
		return err
	}
	if err := engine.CheckSkip(run, o.stage, o.task, o.cluster); err != nil {
		return usageError{Err: err}
	}
	osUser := currentUser()
	if err := o.store().Skip(o.name, store.Approval{Key: o.key, By: osUser, OSUser: osUser, Time: time.Now().UTC()}); err != nil {
		return usageError{Err: err}
	}
	if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventSkipRequested, Message: o.key + " by " + osUser}); err != nil {
		return fmt.Errorf("the skip is recorded, but not its audit line: %w", err)
	}
	o.printer.Success("%s of run %s will be skipped", o.key, o.name)
	return nil
}

type stopOptions struct{ namedRunOptions }

func newStopCommand(s Streams) *cobra.Command {
	o := &stopOptions{namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:               "stop RUN",
		Short:             "Stop a run: steps under way finish safely, nothing new starts",
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	return cmd
}

func (o *stopOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	if err := o.store().SetState(o.name, v1alpha1.StateStop); err != nil {
		return usageError{Err: err}
	}
	if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventStopRequested, Message: "stop requested by " + currentUser()}); err != nil {
		o.printer.Waiting("the stop is recorded, but not its audit line: %v", err)
	}
	o.printer.Success("run %s will stop after the steps under way; resume it with `upshift resume %s%s`", o.name, o.name, o.hubFlag())
	return nil
}

type historyOptions struct {
	runOptions
	output string
}

func newHistoryCommand(s Streams) *cobra.Command {
	o := &historyOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List update runs: phase, target, start, duration",
		Args:  exactArgs(0, ""),
		RunE:  runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml")
	return cmd
}

func (o *historyOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *historyOptions) Validate() error {
	return validateOutput(o.output, outputTable, outputJSON, outputYAML)
}

func (o *historyOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	runs := o.store()
	list, err := runs.List()
	if err != nil {
		return err
	}
	if o.output != outputTable {
		if list == nil {
			list = []*v1alpha1.UpdateRun{}
		}
		return writeData(o.streams.Out, o.output, list)
	}
	var rows [][]string
	for _, r := range list {
		target := r.Spec.Upgrade.Type
		if r.Spec.Upgrade.KubernetesVersion != "" {
			target += " " + r.Spec.Upgrade.KubernetesVersion
		}
		started := "-"
		if r.Status.Start != nil {
			started = r.Status.Start.UTC().Format(time.RFC3339)
		}
		phase, took := r.Status.Phase, strings.TrimPrefix(span(r.Status.Start, r.Status.End), " ")
		switch {
		case orphaned(runs, r):
			phase += " (no driver: resume it)"
		case settled(r) && r.Status.End == nil:
			took = "-" // it ended; when is not known
		}
		retryOf := r.Annotations[v1alpha1.AnnotationRetryOf]
		if retryOf == "" {
			retryOf = "-"
		}
		rows = append(rows, []string{r.Name, phase, target, fmt.Sprint(len(r.Status.Clusters)), started, took, retryOf})
	}
	return table(o.streams.Out, []string{"NAME", "PHASE", "TARGET", "CLUSTERS", "STARTED", "DURATION", "RETRY OF"}, rows)
}

// initError classifies why a run could not start: a run that is invalid,
// already exists, or names a cluster that does not exist is bad input
// (exit 2); nothing was changed either way.
func initError(err error) error {
	var invalid *engine.InvalidError
	var unresolved *engine.UnresolvedError
	if errors.As(err, &invalid) || errors.As(err, &unresolved) || errors.Is(err, localfleet.ErrNotFound) || errors.Is(err, store.ErrExists) {
		return usageError{Err: err}
	}
	return err
}
