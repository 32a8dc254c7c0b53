// Package kubeconfig is the cluster provider of clusters upshift reaches
// only through a kubeconfig context: any EKS, GKE, kubeadm or Cluster API
// cluster. It reads the cluster (its version, and its node pools from the
// platforms' pool labels) so that scans, gates, readiness and `upshift
// fleet` work on it; it cannot upgrade, create or delete anything, and the
// planner says so for each step that would need it.
package kubeconfig
