package engine

import (
	"context"
	"fmt"
	"time"

	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/steps"
	"upshift.dev/upshift/internal/transient"
)

// DefaultTransientErrorTimeout is how long a step retries a cluster or
// provider that is briefly away, unless the run's failurePolicy says.
const DefaultTransientErrorTimeout = 5 * time.Minute

// Backoff between attempts of a step that met a passing fault.
const (
	transientFirstWait = time.Second
	transientMaxWait   = 15 * time.Second
)

// execute does a step, and does it again while it fails on a passing
// fault (transient.Is) and the run's transient-error timeout has not run
// out: every step is idempotent, so an attempt picks up from what the
// cluster shows. Progress says what it waits for; the final error names
// the last fault once. A stop request ends the wait.
func (e *Engine) execute(ctx context.Context, method methods.Method, env *clusterEnv, step steps.Step, where Event) (methods.Result, error) {
	limit := DefaultTransientErrorTimeout
	if d := e.run.Spec.FailurePolicy.TransientErrorTimeout; d != nil {
		limit = d.Duration
	}
	var since time.Time
	wait := transientFirstWait
	for attempt := 1; ; attempt++ {
		res, err := method.Execute(ctx, env, step)
		if err == nil || !transient.Is(err) || ctx.Err() != nil {
			return res, err
		}
		if since.IsZero() {
			since = time.Now()
		}
		if time.Since(since) >= limit {
			return res, fmt.Errorf("%w (still failing after %s and %d attempts; failurePolicy.transientErrorTimeout is %s)", err, time.Since(since).Round(time.Second), attempt, limit)
		}
		ev := where
		ev.Type, ev.Message = "Waiting", fmt.Sprintf("waiting for the API server or provider (attempt %d, since %s): %v", attempt, since.Format(time.TimeOnly), err)
		e.emit(ev)
		select {
		case <-ctx.Done():
			return res, err
		case <-e.stop:
			return res, fmt.Errorf("%w while waiting out: %w", ErrStopped, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, transientMaxWait)
	}
}
