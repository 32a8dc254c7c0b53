// Package sampleapp is the web application the demo and the integration
// tests deploy: a Deployment with readiness and liveness probes, a preStop
// hook and resource requests, a Service, an Ingress for one host and a
// PodDisruptionBudget — the shape of a workload that survives upgrades.
package sampleapp
