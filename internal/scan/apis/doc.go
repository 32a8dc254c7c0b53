// Package apis finds uses of deprecated and removed Kubernetes APIs before
// an upgrade: in manifests, and in a live cluster through the objects'
// last-applied-configuration annotations cross-checked against their
// managedFields, Helm 3 release records (latest deployed revision only),
// and the API server's apiserver_requested_deprecated_apis metric.
package apis
