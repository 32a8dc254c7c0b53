package hub

import (
	"context"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"upshift.dev/upshift/api/v1alpha1"
)

// retain deletes an ended run whose spec.ttlSecondsAfterFinished ran out,
// or comes back when it will; and keeps no more than --keep-runs ended
// runs. What a run owns goes with it (hubstore.Store.Delete), and so do
// its metric series, which are read from the runs that exist.
func (r *Reconciler) retain(ctx context.Context, run *v1alpha1.UpdateRun) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	if ttl := run.Spec.TTLSecondsAfterFinished; ttl != nil {
		left := time.Until(finishedAt(run).Add(time.Duration(*ttl) * time.Second))
		if left > 0 {
			return ctrl.Result{RequeueAfter: left}, r.prune(ctx)
		}
		logger.Info("run deleted", "run", run.Name, "phase", run.Status.Phase, "why", "ttlSecondsAfterFinished")
		return ctrl.Result{}, r.Store.Delete(run.Name)
	}
	return ctrl.Result{}, r.prune(ctx)
}

// prune deletes the ended runs beyond the newest KeepRuns, oldest first.
func (r *Reconciler) prune(ctx context.Context) error {
	if r.Options.KeepRuns <= 0 {
		return nil
	}
	var list v1alpha1.UpdateRunList
	if err := r.Cache.List(ctx, &list, client.InNamespace(r.Options.Namespace)); err != nil {
		return err
	}
	var ended []*v1alpha1.UpdateRun
	for i := range list.Items {
		if run := &list.Items[i]; run.Status.Ended() && run.DeletionTimestamp == nil {
			ended = append(ended, run)
		}
	}
	if len(ended) <= r.Options.KeepRuns {
		return nil
	}
	sort.SliceStable(ended, func(i, j int) bool {
		a, b := finishedAt(ended[i]), finishedAt(ended[j])
		if a.Equal(b) {
			return ended[i].Name > ended[j].Name
		}
		return a.After(b)
	})
	for _, run := range ended[r.Options.KeepRuns:] {
		log.FromContext(ctx).Info("run deleted", "run", run.Name, "phase", run.Status.Phase, "why", "keep-runs")
		if err := r.Store.Delete(run.Name); err != nil {
			return err
		}
	}
	return nil
}

// finishedAt is when a run ended: its end time, or for a run ended
// without one, its last condition's change, or its creation.
func finishedAt(run *v1alpha1.UpdateRun) time.Time {
	if run.Status.End != nil {
		return run.Status.End.Time
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, v1alpha1.ConditionInitialized); c != nil {
		return c.LastTransitionTime.Time
	}
	return run.CreationTimestamp.Time
}
