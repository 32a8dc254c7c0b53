// Package drainsim replays a node pool's upgrade against a snapshot of the
// cluster before the run, read-only: the surge nodes the upgrade adds, the
// old nodes cordoned and drained in the order and batches package nodes
// uses, each eviction checked against the PodDisruptionBudgets as they
// will stand at that point, and each evicted pod's replacement placed on
// the nodes left (requests against allocatable, node selectors and
// required affinity, taints, required anti-affinity). It names what will
// block the drain (node, pod, budget or constraint, when, and what to
// change), confirms the first eviction of each workload with a server-side
// dry-run eviction, and predicts the pool's duration from measured or
// default timings. upshift plan --simulate shows it.
package drainsim
