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
	"github.com/spf13/pflag"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/drainsim"
	"upshift.dev/upshift/internal/engine"
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
	// hub, hubKubeconfig and hubNamespace name a hub that keeps the
	// runs (openHub sets runs; onHub says whether one was named);
	// hubFlags are the command's flags that name it.
	hub, hubKubeconfig, hubNamespace string
	hubFlags                         *pflag.FlagSet
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
	if o.onHub() {
		if o.requireWindowFit {
			return usagef("--require-window-fit replays pools from this machine: run `upshift plan --simulate` against the fleet, then submit without it")
		}
		if o.fleetFile != "" {
			return usagef("--fleet is not used with a hub: the hub's fleet is the Cluster objects of namespace %s (kubectl -n %s apply -f %s)", o.hubNamespace, o.hubNamespace, o.fleetFile)
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
	if o.onHub() {
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
