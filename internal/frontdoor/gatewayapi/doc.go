// Package gatewayapi makes upshift's gateway follow Gateway API objects
// (gateway.networking.k8s.io/v1) on a cluster, as an implementation of
// its GatewayClass: it watches the class, its Gateways and the HTTPRoutes
// attached to them, serves their hostnames, backends and weights, and
// writes their status conditions (Accepted, Programmed, ResolvedRefs). A
// route another implementation owns is left alone.
//
// It follows a subset, and is not a conformant implementation: hostnames
// (one route per host), the backendRefs of the rule without matches, with
// weights, rules sending one exact header value to a single backend,
// Services with EndpointSlices or an ExternalName, and the URLRewrite
// filter's hostname. Path matches, other header and query matches, other
// filters,
// cross-namespace references, listeners' own hostnames, ports and TLS are
// not followed.
package gatewayapi
