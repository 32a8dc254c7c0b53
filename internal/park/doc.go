// Package park lets a wait end a drive instead of holding it. A driver
// that may park (a hub's engine) says so on the context with Allow; a
// wait longer than that, or one only a change ends (an approval), then
// returns an *Error that says until when, and the driver drives the run
// again at that time, or sooner when what it waits for changes. Without
// Allow (the CLI) every wait is waited out in place.
//
// A wait that parks must be one its step can pick up again from the
// run's status alone: a soak counted from the step's start, an approval
// the store holds. Work (probes, measurements) is never parked.
package park
