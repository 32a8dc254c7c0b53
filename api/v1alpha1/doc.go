// Package v1alpha1 holds upshift's API objects (group upshift.dev, version
// v1alpha1): Kubernetes-style types with apiVersion, kind, metadata, spec and
// status. They are the CLI's YAML input and, later, CRDs on a hub cluster.
// +kubebuilder:object:generate=true
// +groupName=upshift.dev
package v1alpha1

// GroupVersion of these types, as manifests write it.
const GroupVersion = "upshift.dev/v1alpha1"
