// Package bluegreen moves one cluster's users to a new cluster at the
// target version, in the phases of the reference architecture:
//
//	T0 Baseline    blue serves; record its version, pools, workloads and
//	               a traffic baseline through the switched name
//	T1 DeployGreen create green with blue's pools at the target version
//	               and validate the platform on three levels
//	T2 Sync        freeze blue's deployers, copy or apply the state to
//	               green, report drift, validate green (gates, load
//	               comparison against blue)
//	T3 Switch      move the cluster name to green, watch it for a window,
//	               and switch back on any failure (rollback)
//	T4 RetireBlue  after the soak, take blue out of the routes, destroy
//	               it (unless kept) and lift the freeze
//
// Every phase is idempotent and records what it did in the cluster's
// BlueGreenStatus before it moves on, so a killed process resumes where it
// was: green's name is derived from blue's, so there is never a second
// green; the freeze is named after the run, so it is never orphaned; and
// blue leaves the routes before it is deleted, so no traffic points at a
// cluster that is gone.
package bluegreen
