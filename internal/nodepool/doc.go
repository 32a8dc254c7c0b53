// Package nodepool holds the values a node pool's upgrade is described by
// on both sides of the cluster provider interface: the events it reports,
// its result, the policy for nodes that cannot be drained and the error
// that names what blocked a drain. It imports no client-go, so the
// interface packages that name these values stay small; the upgrade
// itself is package nodes.
package nodepool
