// Package inplace is the in-place upgrade method: preflight gates, the
// control plane one minor version at a time, then each node pool replaced
// with surge nodes and budget-respecting drains, then post-upgrade gates.
package inplace
