// Package kubeauth signs people in to the dashboard with their own
// Kubernetes identity: the bearer token they sign in with is checked by
// the API server's TokenReview, and what they may do by its
// SubjectAccessReview, the rights kubectl would need for the same change.
// The audit trail then names the user the API server named, not one a
// form declared. The hub's ServiceAccount needs to create both reviews
// (the chart binds it to system:auth-delegator when the dashboard signs
// people in this way).
package kubeauth
