// Package traffickinds is the registry of traffic provider kinds (a run's
// spec.blueGreen.traffic.provider): each kind registers the factory that
// builds its provider from the run's traffic spec. It is apart from
// package traffic, the provider interface, so that the interface's users
// do not inherit the API types.
package traffickinds
