// Package frontdoor is upshift's gateway (`upshift gateway`), its own L7
// front door for blue-green and canary switching: per-host routes over
// weighted backend pools (clusters), active health checks, retries of
// idempotent requests on refused connections, optional cookie affinity, a
// pin header for trying a backend before users reach it (allowed routes,
// loopback or a secret, healthy backends only), TLS, an admin API (bearer
// token) to read and set weights, and Prometheus metrics. A weight change
// never cuts a request in flight: a backend set to 0 finishes what it
// serves and gets nothing new. (The traffic provider that drives it
// through the admin API is providers/traffic/gateway.)
package frontdoor
