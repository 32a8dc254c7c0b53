// Package hubstore keeps update runs as objects on a hub cluster's API
// server, for hub mode: the engine's store.Runs, beside the file store,
// so one engine drives runs in both modes with no fork of its logic.
//
// A run is an UpdateRun object (its status in the status subresource),
// and each of its clusters' part an UpdateRunMember it owns, so that the
// run stays small at thousands of members and a cluster's change writes
// that cluster alone (reads put the members back in their stages); its
// frozen fleet and its audit trail are ConfigMaps the run owns
// (<run>-fleet, <run>-audit); approvals are ApprovalRequest objects, so
// RBAC on approvalrequests/status decides who may approve; skips are an
// annotation of the run; the right to drive a run is a Lease
// (<run>-driver) renewed while it is held, so a driver that dies loses it
// within the lease's duration.
package hubstore
