// Package aks is the cluster provider of Azure Kubernetes Service, through
// the Azure SDK for Go (armcontainerservice v6, api-version 2025-02-01) and
// azidentity's DefaultAzureCredential. It reads clusters, their pools and
// the upgrades Azure offers; upgrades a control plane one minor at a time
// (control plane only), and a pool with AKS's own upgradeSettings; creates
// green from blue's ManagedCluster and deletes clusters.
//
// Long-running operations are followed, never issued twice: before acting,
// a step waits out any operation the resource says is under way (its
// provisioningState), so a step resumed after upshift was killed finds the
// upgrade it started and waits for it; a 409 OperationNotAllowed also means
// wait. 429 and 5xx are retried by the SDK's pipeline (honouring
// Retry-After), then reported as passing faults; quota and validation
// errors fail the step with the pool and what Azure said.
//
// A loopback ARM endpoint is the local Azure emulator (internal/azureemu):
// the provider then uses a static token over HTTP, as the emulator asks.
package aks
