// Package gatewayapi is the traffic provider for a Gateway API
// implementation the user already runs (Envoy Gateway, Istio, Cilium,
// NGINX Gateway Fabric, AKS application routing, or upshift's gateway
// following the objects): each switched name is an HTTPRoute
// (gateway.networking.k8s.io/v1) and each cluster a Service named after
// it that reaches the cluster's ingress — selector-less with an
// EndpointSlice for an address, ExternalName for a host name. A switch is
// one update of the route's backendRef weights, guarded by its
// resourceVersion, and counts only once the implementation reports the
// route Accepted with its references resolved at that generation.
package gatewayapi
