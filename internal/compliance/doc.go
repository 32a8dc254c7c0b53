// Package compliance builds the fleet's patch-compliance report (`upshift
// report compliance`): per cluster its Kubernetes version and whether it
// is still supported (within N-2 of the newest minor its provider
// offers), each pool's node image and how many releases it is behind, the
// CVEs of the node-image catalogue still open on it, its last upgrade run
// and its next maintenance window; and fleet totals. It renders the
// report as a table, JSON, or one self-contained HTML page.
package compliance
