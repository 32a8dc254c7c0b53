// Package cluster defines what upshift needs from a place that runs
// Kubernetes clusters: create and delete them, read them, upgrade their
// control plane and node pools. Each implementation is a sub-package named
// after what it drives (local, exec, kubeconfig). Cluster and NodePool are
// also the exec provider's wire format, so their JSON names are a contract.
package cluster
