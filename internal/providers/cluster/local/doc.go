// Package local is the cluster provider of the local fleet: clusters of real
// control planes on loopback with kwok nodes (internal/localfleet). Node pool
// upgrades use the provider-independent surge and drain of internal/nodes.
package local
