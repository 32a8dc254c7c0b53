// Package nodes upgrades a node pool the way managed Kubernetes services
// do, for any provider whose cloud does not do it for us: add surge nodes at
// the target, cordon up to maxSurge old nodes, drain them through the
// eviction API so PodDisruptionBudgets are honoured (k8s.io/kubectl/pkg/drain
// picks and evicts the pods; watches on the budgets and on each node's pods
// say when to retry and when a pod is gone), delete each as soon as it is
// empty, and go on until no old node is left. The provider only adds and
// removes machines (the Pool interface). Every pass starts from what the
// cluster shows, so a restarted upgrade carries on where it stopped.
package nodes
