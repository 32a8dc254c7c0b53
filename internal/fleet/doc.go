// Package fleet reads fleet files — YAML streams of upshift.dev/v1alpha1
// Cluster objects — strictly (unknown fields are errors), and loads
// kubeconfigs the way kubectl does.
package fleet
