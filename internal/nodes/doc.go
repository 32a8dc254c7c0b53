// Package nodes upgrades a node pool the way managed Kubernetes services
// do, for any provider whose cloud does not do it for us: add surge nodes at
// the target, cordon a batch of old nodes, drain them through the eviction
// API so PodDisruptionBudgets are honoured (k8s.io/kubectl/pkg/drain), delete
// them, and go on until no old node is left. The provider only adds and
// removes machines (the Pool interface). Every pass starts from what the
// cluster shows, so a restarted upgrade carries on where it stopped.
package nodes
