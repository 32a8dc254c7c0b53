// Package store keeps update runs as files, for standalone mode: one folder
// per run under the state directory, holding the run as submitted
// (run.yaml; stop and resume change its spec.state), its status
// (status.json, written only by the process driving the run), and two
// append-only JSON-lines logs: approvals and the audit trail. Writes are
// atomic (write, then rename); a lock lets one process drive a run.
package store
