package hubclient

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/restconfig"
)

// Hub names a hub: the kubeconfig context of its API server and the
// namespace of its runs and member Cluster objects.
type Hub struct {
	Kubeconfig string // default $KUBECONFIG or ~/.kube/config
	Context    string // default the kubeconfig's current context
	Namespace  string
	// Identity is who the store's writes say they are from.
	Identity string
}

// Open connects to the hub and checks that it is reachable and serves
// upshift's API; the store reads and writes its runs.
func Open(ctx context.Context, h Hub) (*hubstore.Store, error) {
	cfg, err := restconfig.FromKubeconfig(h.Kubeconfig, h.Context)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 30 * time.Second
	c, err := client.New(cfg, client.Options{Scheme: hubstore.Scheme()})
	if err != nil {
		return nil, err
	}
	var runs v1alpha1.UpdateRunList
	if err := c.List(ctx, &runs, client.InNamespace(h.Namespace), client.Limit(1)); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, &NotServedError{Context: h.Context}
		}
		return nil, fmt.Errorf("%s: %w", cfg.Host, err)
	}
	return &hubstore.Store{Client: c, Namespace: h.Namespace, Identity: h.Identity}, nil
}

// NotServedError is a cluster that does not serve upshift's API.
type NotServedError struct{ Context string }

func (e *NotServedError) Error() string {
	ctx := ""
	if e.Context != "" {
		ctx = " --context " + e.Context
	}
	return "it does not serve upshift's API: install it with `upshift hub crds --install" + ctx + "` or the Helm chart"
}

// Finished says whether a run has ended, or stopped at a request: nothing
// more happens to it unless someone resumes it.
func Finished(run *v1alpha1.UpdateRun) bool {
	if run.Status.Ended() {
		return !hubstore.ResumePending(run)
	}
	return run.Status.Phase == v1alpha1.PhaseStopped && run.Spec.State == v1alpha1.StateStop
}

// Changes turns the states of a run read one after another into what
// moved between them, as the engine's events would have said it.
type Changes struct{ seen map[string]string }

// Of lists what moved in run's status since the last call, and records
// it.
func (c *Changes) Of(run *v1alpha1.UpdateRun) []engine.Event {
	if c.seen == nil {
		c.seen = map[string]string{}
	}
	var out []engine.Event
	note := func(key string, ev engine.Event) {
		now := ev.Type + "|" + ev.Message
		if c.seen[key] == now || ev.Type == "" || ev.Type == v1alpha1.PhaseNotStarted {
			return
		}
		c.seen[key] = now
		out = append(out, ev)
	}
	st := run.Status
	for _, s := range st.Stages {
		for _, t := range append(append([]v1alpha1.TaskStatus{}, s.BeforeTasks...), s.AfterTasks...) {
			note("task/"+s.Name+"/"+t.Name, engine.Event{Stage: s.Name, Step: t.Name, Type: t.Phase, Message: orPhase(t.Message, t.Type+" "+t.Phase)})
		}
		for _, cl := range s.Clusters {
			for _, step := range cl.Steps {
				note("step/"+s.Name+"/"+cl.Name+"/"+step.Name, engine.Event{Stage: s.Name, Cluster: cl.Name, Step: step.Name, Type: step.Phase, Message: orPhase(step.Message, step.Phase)})
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
