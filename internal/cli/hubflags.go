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

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubclient"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/store"
)

// Where a command keeps runs: the home's files, or a hub's API server
// when its --context, --kubeconfig or -n (or $UPSHIFT_HUB) name one.
const (
	envHub          = "UPSHIFT_HUB"
	envHubNamespace = "UPSHIFT_HUB_NAMESPACE"
)

// addHub adds the flags that name a hub, as kubectl names a cluster:
// --kubeconfig, --context and -n/--namespace. Any of them, or
// $UPSHIFT_HUB, puts the command on the hub; --hub, --hub-kubeconfig and
// --hub-namespace are their deprecated names.
func (o *runOptions) addHub(cmd *cobra.Command) {
	ns := os.Getenv(envHubNamespace)
	if ns == "" {
		ns = defaultHubNamespace
	}
	ctx := os.Getenv(envHub)
	f := cmd.Flags()
	f.StringVar(&o.hubKubeconfig, "kubeconfig", "", "kubeconfig of an upshift hub (default $KUBECONFIG or ~/.kube/config); with it the run is an object on the hub, driven there")
	f.StringVar(&o.hub, "context", ctx, "kubeconfig context of an upshift hub (default the current context; $"+envHub+")")
	f.StringVarP(&o.hubNamespace, "namespace", "n", ns, "the hub's namespace of runs and member Cluster objects ($"+envHubNamespace+")")
	f.StringVar(&o.hub, "hub", ctx, "kubeconfig context of an upshift hub")
	f.StringVar(&o.hubKubeconfig, "hub-kubeconfig", "", "kubeconfig that holds the hub's context")
	f.StringVar(&o.hubNamespace, "hub-namespace", ns, "the hub's namespace")
	_ = f.MarkDeprecated("hub", "use --context (and --kubeconfig), as for any cluster")
	_ = f.MarkDeprecated("hub-kubeconfig", "use --kubeconfig")
	_ = f.MarkDeprecated("hub-namespace", "use -n/--namespace")
	for _, name := range []string{"context", "hub"} {
		_ = cmd.RegisterFlagCompletionFunc(name, completeContexts(&o.hubKubeconfig))
	}
	o.hubFlags = f
}

// defaultHubNamespace is the namespace the Helm chart installs the hub in.
const defaultHubNamespace = "upshift-system"

// onHub says whether the command works on a hub: a hub flag was given,
// or $UPSHIFT_HUB names one.
func (o *runOptions) onHub() bool {
	if o.hub != "" {
		return true
	}
	if o.hubFlags == nil {
		return false
	}
	for _, name := range []string{"kubeconfig", "context", "namespace", "hub", "hub-kubeconfig", "hub-namespace"} {
		if o.hubFlags.Changed(name) {
			return true
		}
	}
	return false
}

// hubName names the hub for messages: its context, or the kubeconfig's
// current one.
func (o *runOptions) hubName() string {
	if o.hub != "" {
		return o.hub
	}
	return "(current context)"
}

// openHub connects to the hub when one is named: from then on store()
// is the hub's. The hub must be reachable and serve upshift's API.
func (o *runOptions) openHub(ctx context.Context) error {
	if !o.onHub() {
		return nil
	}
	s, err := hubclient.Open(ctx, hubclient.Hub{Kubeconfig: o.hubKubeconfig, Context: o.hub, Namespace: o.hubNamespace, Identity: currentUser()})
	if err != nil {
		return usagef("hub %s: %v", o.hubName(), err)
	}
	o.runs = s
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
	o.printer.Action("run %s applied to hub %s (namespace %s)", run.Name, o.hubName(), o.hubNamespace)
	if run.Spec.State == v1alpha1.StateInitialize {
		o.printer.Success("run %s will be planned by the hub; start it with `upshift resume %s%s`", run.Name, run.Name, o.hubFlag())
		return nil
	}
	return o.follow(ctx, run.Name)
}

// follow shows a run the hub drives, change by change, until it ends or
// stops; Ctrl-C stops following, not the run. Its exit code is the one
// driving the run here would give.
func (o *runOptions) follow(ctx context.Context, name string) error {
	where := ""
	if o.onHub() {
		where = " on the hub"
	}
	o.printer.Action("following run %s%s (Ctrl-C stops following; the run goes on)", name, where)
	var seen hubclient.Changes
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
			for _, ch := range seen.Of(run) {
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

// finished is finished, and, without a hub, a run that stopped or whose
// driver is gone: nothing will drive it on unless someone resumes it.
func (o *runOptions) finished(run *v1alpha1.UpdateRun) bool {
	if hubclient.Finished(run) {
		return true
	}
	return !o.onHub() && (run.Status.Phase == v1alpha1.PhaseStopped || orphaned(o.store(), run))
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
	if err != nil && o.onHub() && apierrors.IsForbidden(err) {
		printer.New(o.streams.Err).Waiting("not in the run's audit trail (your role may not write it): %s", ev.Message)
		return nil
	}
	return err
}

// hubFlag repeats the hub flags given, for the commands a message
// suggests.
func (o *runOptions) hubFlag() string {
	if !o.onHub() {
		return ""
	}
	var b strings.Builder
	if o.hubKubeconfig != "" {
		b.WriteString(" --kubeconfig " + o.hubKubeconfig)
	}
	if o.hub != "" {
		b.WriteString(" --context " + o.hub)
	}
	if o.hubNamespace != defaultHubNamespace || b.Len() == 0 {
		b.WriteString(" -n " + o.hubNamespace)
	}
	return b.String()
}
