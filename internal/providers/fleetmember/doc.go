// Package fleetmember turns a fleet's Cluster entries into members upshift
// can act on: the registry of cluster provider kinds (a Cluster's
// spec.provider), the resolver that opens each kind once and finds a
// member's provider, name and API server, and the moves of a fleet entry
// from one provider cluster to another (a blue-green move's green).
//
// It is apart from package cluster, the provider interface, so that the
// interface's users do not inherit client-go and the API types.
package fleetmember
