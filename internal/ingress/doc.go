// Package ingress is the local fleet's ingress stand-in: an HTTP endpoint on
// loopback that answers for the hosts of a cluster's Ingress objects, with a
// small JSON body naming the cluster, its Kubernetes version and the backend
// Service, while that Service has ready endpoints, and 503 while it has
// none. It watches the cluster through informers, so what it answers follows
// real cluster state; it counts the requests it answers per host and code.
// Fault annotations on an Ingress (a share of 500s, a delay, only on a
// given Kubernetes version) stand in for an app a new version breaks.
package ingress
