// Package dashboard serves upshift's web dashboard: the runs, each run's
// stage → cluster → step tree with times, gate and analysis results,
// traffic weights of blue-green and canary moves, and the approvals that
// wait, updated live over server-sent events. Its buttons approve, stop
// and roll back, behind a bearer token (a signed-in browser holds a
// session cookie and every form carries the session's CSRF token).
//
// It reads and writes runs through store.Runs only, so the same server
// runs over a home's files (`upshift dashboard`) and over a hub
// (`upshift hub run --dashboard-listen`). Pages are rendered on the
// server; a few lines of JavaScript swap in the fragments the event
// stream sends.
package dashboard
