package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/restconfig"
	"upshift.dev/upshift/internal/store"
)

// Where a command keeps runs: the home's files, or a hub's API server
// when --hub (or $UPSHIFT_HUB) names its kubeconfig context.
const (
	envHub          = "UPSHIFT_HUB"
	envHubNamespace = "UPSHIFT_HUB_NAMESPACE"
)

// addHub adds --hub, --hub-kubeconfig and --hub-namespace.
func (o *runOptions) addHub(cmd *cobra.Command) {
	ns := os.Getenv(envHubNamespace)
	if ns == "" {
		ns = "upshift-system"
	}
	cmd.Flags().StringVar(&o.hub, "hub", os.Getenv(envHub), "kubeconfig context of an upshift hub: the run is an object there, driven by the hub ($"+envHub+")")
	cmd.Flags().StringVar(&o.hubKubeconfig, "hub-kubeconfig", "", "kubeconfig that holds the --hub context (default $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&o.hubNamespace, "hub-namespace", ns, "the hub's namespace of runs and member Cluster objects ($"+envHubNamespace+")")
	_ = cmd.RegisterFlagCompletionFunc("hub", completeContexts(&o.hubKubeconfig))
}

// openHub connects to the hub when one is named: from then on store()
// is the hub's. The hub must be reachable and serve upshift's API.
func (o *runOptions) openHub(ctx context.Context) error {
	if o.hub == "" {
		return nil
	}
	cfg, err := restconfig.FromKubeconfig(o.hubKubeconfig, o.hub)
	if err != nil {
		return usagef("--hub %s: %v", o.hub, err)
	}
	cfg.Timeout = 30 * time.Second
	c, err := client.New(cfg, client.Options{Scheme: hubstore.Scheme()})
	if err != nil {
		return usagef("--hub %s: %v", o.hub, err)
	}
	var runs v1alpha1.UpdateRunList
	if err := c.List(ctx, &runs, client.InNamespace(o.hubNamespace), client.Limit(1)); err != nil {
		if meta.IsNoMatchError(err) {
			return usagef("--hub %s does not serve upshift's API: install it with `upshift hub crds --install --context %s` or the Helm chart", o.hub, o.hub)
		}
		return usagef("--hub %s (%s): %v", o.hub, cfg.Host, err)
	}
	o.runs = &hubstore.Store{Client: c, Namespace: o.hubNamespace, Identity: currentUser()}
	return nil
}

// submit applies a run to the hub, its strategy inline: the hub plans it
// over its namespace's Cluster objects and drives it.
func (o *runOptions) submit(ctx context.Context, run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec) error {
	run.Spec.Strategy, run.Spec.StrategyRef = strategy, nil
	// Paths of this machine mean nothing to the hub.
	delete(run.Annotations, v1alpha1.AnnotationWorkDir)
	if err := o.store().Create(run); err != nil {
		return usageError{Err: err}
	}
	o.printer.Action("run %s applied to hub %s (namespace %s)", run.Name, o.hub, o.hubNamespace)
	if run.Spec.State == v1alpha1.StateInitialize {
		o.printer.Success("run %s will be planned by the hub; start it with `upshift resume %s --hub %s`", run.Name, run.Name, o.hub)
		return nil
	}
	return o.follow(ctx, run.Name)
}

// follow shows a run the hub drives, change by change, until it ends or
// stops; Ctrl-C stops following, not the run. Its exit code is the one
// driving the run here would give.
func (o *runOptions) follow(ctx context.Context, name string) error {
	where := ""
	if o.hub != "" {
		where = " on the hub"
	}
	o.printer.Action("following run %s%s (Ctrl-C stops following; the run goes on)", name, where)
	seen := map[string]string{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastErr := ""
	for {
		run, err := o.store().Get(name)
		if err != nil && !errors.Is(err, store.ErrNotFound) && err.Error() != lastErr {
			o.printer.Waiting("hub unreachable, still trying: %v", err)
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
		if run != nil {
			for _, ch := range changes(seen, run) {
				o.progress(ch)
			}
			if err := o.ended(run); err != nil || o.finished(run) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("run %s has not ended within the --timeout; it goes on: %w", name, context.DeadlineExceeded)
			}
			o.printer.Action("stopped following run %s; it goes on%s: `upshift status %s%s`", name, where, name, o.hubFlag())
			return nil
		case <-tick.C:
		}
	}
}

// finished: the run has ended, or stopped at a request.
func finished(run *v1alpha1.UpdateRun) bool {
	if run.Status.Ended() {
		return !hubstore.ResumePending(run)
	}
	return run.Status.Phase == v1alpha1.PhaseStopped && run.Spec.State == v1alpha1.StateStop
}

// finished is finished, and, without a hub, a run that stopped or whose
// driver is gone: nothing will drive it on unless someone resumes it.
func (o *runOptions) finished(run *v1alpha1.UpdateRun) bool {
	if finished(run) {
		return true
	}
	return o.hub == "" && (run.Status.Phase == v1alpha1.PhaseStopped || orphaned(o.store(), run))
}

// ended prints the report of a finished run and says how it ended.
func (o *runOptions) ended(run *v1alpha1.UpdateRun) error {
	if !o.finished(run) {
		return nil
	}
	o.report(run)
	switch run.Status.Phase {
	case v1alpha1.PhaseCompleted:
		o.printer.Success("run %s completed", run.Name)
		return nil
	case v1alpha1.PhaseRolledBack:
		o.printer.Failure("run %s rolled back: traffic is on blue", run.Name)
		return exitCode(ExitRolledBack)
	case v1alpha1.PhaseCancelled:
		o.printer.Failure("run %s was cancelled: nothing more will be done", run.Name)
		return exitCode(ExitStopped)
	case v1alpha1.PhaseStopped:
		o.printer.Failure("run %s stopped: resume it with `upshift resume %s%s`", run.Name, run.Name, o.hubFlag())
		return exitCode(ExitStopped)
	}
	if orphaned(o.store(), run) {
		o.printer.Failure("no process drives run %s: it stopped where its driver was killed; `upshift resume %s` goes on from there", run.Name, run.Name)
		return exitCode(ExitStopped)
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, v1alpha1.ConditionInitialized); c != nil && c.Status == metav1.ConditionFalse {
		return usagef("the hub refused run %s: %s", run.Name, c.Message)
	}
	return fmt.Errorf("run %s failed: %s", run.Name, run.Status.Message)
}

// changes lists what moved in a run's status since seen, as the engine's
// events would have said it, and records it.
func changes(seen map[string]string, run *v1alpha1.UpdateRun) []engine.Event {
	var out []engine.Event
	note := func(key string, ev engine.Event) {
		now := ev.Type + "|" + ev.Message
		if seen[key] == now || ev.Type == "" || ev.Type == v1alpha1.PhaseNotStarted {
			return
		}
		seen[key] = now
		out = append(out, ev)
	}
	st := run.Status
	for _, s := range st.Stages {
		for _, t := range append(append([]v1alpha1.TaskStatus{}, s.BeforeTasks...), s.AfterTasks...) {
			note("task/"+s.Name+"/"+t.Name, engine.Event{Stage: s.Name, Step: t.Name, Type: t.Phase, Message: orPhase(t.Message, t.Type+" "+t.Phase)})
		}
		for _, c := range s.Clusters {
			for _, step := range c.Steps {
				note("step/"+s.Name+"/"+c.Name+"/"+step.Name, engine.Event{Stage: s.Name, Cluster: c.Name, Step: step.Name, Type: step.Phase, Message: orPhase(step.Message, step.Phase)})
			}
		}
	}
	note("run", engine.Event{Type: st.Phase, Message: orPhase(st.Message, "run "+st.Phase)})
	return out
}

func orPhase(message, phase string) string {
	if message != "" {
		return message
	}
	return phase
}

// request asks the hub to resume or roll back a run, and follows it.
func (o *runOptions) request(ctx context.Context, name, state string) error {
	if err := o.store().SetState(name, state); err != nil {
		return usageError{Err: err}
	}
	_ = o.audit(name, store.Event{Time: time.Now().UTC(), Type: store.RequestedEvent(state), Message: strings.ToLower(state) + " requested by " + currentUser()})
	return o.follow(ctx, name)
}

// audit appends to a run's audit trail. On a hub the people who approve
// may not write it (their Role is the approver's): the ApprovalRequest
// is then the record, and a refusal is only a warning.
func (o *runOptions) audit(name string, ev store.Event) error {
	err := o.store().Audit(name, ev)
	if err != nil && o.hub != "" && apierrors.IsForbidden(err) {
		printer.New(o.streams.Err).Waiting("not in the run's audit trail (your role may not write it): %s", ev.Message)
		return nil
	}
	return err
}

// hubFlag repeats --hub for the commands a message suggests.
func (o *runOptions) hubFlag() string {
	if o.hub == "" {
		return ""
	}
	return " --hub " + o.hub
}
