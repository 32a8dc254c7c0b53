// Package engine drives update runs: stages in order, the groups of a stage
// in parallel, the clusters of a group up to maxConcurrency at once, and for
// each cluster its typed steps, each dispatched to the run's method
// (internal/methods: in-place, blue-green) with an Env for that cluster. The
// engine knows no method: a method that can undo its moves says so
// (methods.RollingBack), and rollback goes through it.
//
// Every step records Running before it acts and Completed after, in the
// run's status, and every action is idempotent, so a process killed at any
// line restarts where it was and does nothing twice. Every status write goes
// through one place; a write that fails after retries stops the run at the
// next step, naming the cause. Conditions (Ready, Progressing, Failed,
// RolledBack) follow the run's phase. The engine never knows where state
// lives: it speaks to store.Runs. One Engine drives one run at a time.
package engine
