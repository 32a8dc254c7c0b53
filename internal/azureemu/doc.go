// Package azureemu serves the part of Azure Resource Manager that upshift's
// AKS provider speaks — Microsoft.ContainerService managedClusters and
// agentPools at api-version 2025-02-01 — on loopback, backed by clusters of
// the local fleet: a ManagedCluster is a real local control plane with kwok
// nodes; its control-plane upgrade really restarts the control plane on the
// next minor; an agent pool upgrade really surges and drains its nodes.
//
// It speaks ARM's wire format with the Azure SDK's own model types: bodies
// marshalled by armcontainerservice, long-running operations with
// Azure-AsyncOperation and Location headers and Retry-After, an operation
// status resource, ARM error bodies ({"error": {"code", "message"}}), and
// 409 OperationNotAllowed while an operation is under way, and the abort
// of a cluster's or a pool's latest operation (Canceling, then Canceled).
// It takes the time the work takes, and provisioningState tells the truth.
//
// It accepts any bearer token unless its Entra is set: then only the
// access tokens that emulated Entra ID issued in exchange for a federated
// token (workload identity) are taken. It listens on loopback only. It is
// for tests and for trying an AKS fleet run without a subscription; it is
// not Azure, and what it does not serve answers 404 with an ARM error.
package azureemu
