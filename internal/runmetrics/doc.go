// Package runmetrics exposes update runs as Prometheus metrics: the phases
// of runs, stages and clusters, how long steps took and how long a running
// one has been at it, failed steps by kind, the traffic weights a move set,
// canary analysis measurements, and approvals waiting. It reads the runs'
// status from the store at each scrape, so the figures are always those
// status shows, survive a restart of upshift, and cover every run of the
// home, driven by this process or not.
package runmetrics
