// Package dashboard serves upshift's web dashboard: the runs, each run's
// stage → cluster → step tree with times, gate and analysis results,
// traffic weights of blue-green and canary moves, and the approvals that
// wait, updated live over server-sent events. Its buttons approve, stop
// and roll back for whoever an Authenticator signs in and allows: a
// shared token (SharedToken), or a person's own Kubernetes identity and
// RBAC (kubeauth). A signed-in browser holds a session cookie signed with
// a key replicas share, so any replica checks it, and every form carries
// a CSRF token derived from the session.
//
// It reads and writes runs through store.Runs only, so the same server
// runs over a home's files (`upshift dashboard`) and over a hub
// (`upshift hub run --dashboard-listen`). Pages are rendered on the
// server; a few lines of JavaScript swap in the fragments the event
// stream sends.
package dashboard
