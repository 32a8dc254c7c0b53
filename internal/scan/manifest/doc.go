// Package manifest reads Kubernetes manifests — YAML streams of several
// documents, JSON, List kinds, folders of them, or rendered Helm/kustomize
// output on stdin — and remembers the file and line of every object. A
// document that does not parse is reported with its file and line, and the
// rest of the input is still read.
package manifest
