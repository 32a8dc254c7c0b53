// Package chart renders a Helm chart found among a scan's inputs, as
// `helm template` would, with Helm's own loader and template engine, and
// reads the rendered objects back to the template file and line they come
// from. The chart is rendered for the scan's target: .Capabilities says
// that Kubernetes version and the API versions it still serves, so a
// chart's capability branches take the path they will take there.
package chart
