// Package azurearm connects upshift's Azure providers (the aks cluster
// provider, the Traffic Manager traffic provider) to Azure Resource
// Manager: the credential and client options for a cloud's ARM endpoint
// (DefaultAzureCredential, or the local emulator's static token on
// loopback), and Azure's errors turned into one line a user can act on.
package azurearm
