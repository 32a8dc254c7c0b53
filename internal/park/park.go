package park

import (
	"context"
	"fmt"
	"time"
)

// Error ends a drive that parked at a wait: nothing failed and nothing
// is held. Drive the run again at Until, or sooner when something it
// waits for changes (an approval, a skip, a stop); Until is zero for a
// wait only a change ends.
type Error struct {
	Until time.Time
	// Why is what the run waits for, as its status says it.
	Why string
}

func (e *Error) Error() string {
	if e.Until.IsZero() {
		return "parked: " + e.Why
	}
	return fmt.Sprintf("parked until %s: %s", e.Until.UTC().Format(time.RFC3339), e.Why)
}

type key struct{}

// Allow lets the waits under ctx park when they are longer than longer;
// 0 never parks.
func Allow(ctx context.Context, longer time.Duration) context.Context {
	return context.WithValue(ctx, key{}, longer)
}

// Forbid keeps the waits under ctx in place: a caller that is doing work
// while it waits (a post-switch window probing) cannot give its place up.
func Forbid(ctx context.Context) context.Context { return Allow(ctx, 0) }

// Longer is how long a wait under ctx must be to park; 0 never parks.
func Longer(ctx context.Context) time.Duration {
	d, _ := ctx.Value(key{}).(time.Duration)
	return d
}

// Until parks a wait that ends by itself at until, when it is longer than
// Allow permits; nil means wait in place.
func Until(ctx context.Context, until time.Time, why string) error {
	if d := Longer(ctx); d > 0 && time.Until(until) > d {
		return &Error{Until: until, Why: why}
	}
	return nil
}

// ForChange parks a wait only a change ends (an approval), when parking
// is allowed; deadline, if not zero, is when it fails by itself, and one
// closer than Allow's bound is waited in place.
func ForChange(ctx context.Context, deadline time.Time, why string) error {
	d := Longer(ctx)
	if d == 0 || !deadline.IsZero() && time.Until(deadline) <= d {
		return nil
	}
	return &Error{Until: deadline, Why: why}
}
