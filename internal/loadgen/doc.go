// Package loadgen is upshift's built-in load generator: bounded bursts
// for baselines and the blue-green load comparison, and a steady stream of
// requests that runs through a whole upgrade and counts every request
// sent, failed and served by each cluster.
package loadgen
