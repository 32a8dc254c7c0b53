// Package hub runs upshift as a controller on a hub cluster: a
// controller-runtime manager whose reconciler initializes the UpdateRuns
// applied to its namespace (fleet from its Cluster objects, strategy
// inline or from an UpdateStrategy) and drives them with the same engine
// as the CLI, their state in the hub store (internal/hubstore). Replicas
// elect a leader on a Lease; each run is driven under its own Lease too,
// so a standby takes a run over once its driver is gone.
package hub
