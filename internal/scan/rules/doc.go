// Package rules knows when each Kubernetes API version is deprecated and
// removed, and what replaces it. The table is derived at start-up from the
// APILifecycleDeprecated, APILifecycleRemoved and APILifecycleReplacement
// methods that k8s.io/api generates for its prerelease types, so it follows
// the k8s.io/api version upshift is built with; a small sourced table adds
// the types k8s.io/api no longer carries.
package rules
