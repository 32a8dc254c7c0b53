// Package azurespec holds Azure's published REST contract as facts — the
// operations, their paths, api-versions and status codes, the headers of
// long-running answers, and the models of requests and answers — written
// from Azure/azure-rest-api-specs (each fact names the spec or example
// file and the commit it was read at), and checks HTTP requests and
// answers against them.
//
// Tests put a Checker between the Azure providers and the Azure emulator,
// so that every request a provider sends and every answer the emulator
// gives is held to what Azure publishes, not to what upshift's own hands
// wrote on both sides. AKS models are the Go SDK's types, generated from
// the same spec; Traffic Manager and Azure DNS, whose SDK modules the
// module proxy does not serve, have their models written out as facts.
package azurespec
