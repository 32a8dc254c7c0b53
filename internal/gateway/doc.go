// Package gateway is upshift's own L7 front door for blue-green and canary
// switching: per-host routes over weighted backend pools (clusters), active
// health checks, retries of idempotent requests on refused connections,
// optional cookie affinity, a header that pins a request to one backend
// for testing, an admin API (bearer token) to read and set weights, and
// Prometheus metrics. A weight change never cuts a request in flight: a
// backend set to 0 finishes what it serves and gets nothing new.
package gateway
