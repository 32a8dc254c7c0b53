// Package engine drives update runs: stages in order, the groups of a stage
// in parallel, the clusters of a group up to maxConcurrency at once, and for
// each cluster the steps of the in-place method (preflight gates, control
// plane one minor at a time, node pools, post-upgrade gates). Every step
// records Running before it acts and Completed after, in the run's status,
// and every action is idempotent (a control plane at the target is left
// alone; a node pool upgrade starts from what the cluster shows), so a
// process killed at any line restarts where it was and does nothing twice.
// The engine never knows where state lives: it reads and writes through the
// store.
package engine
