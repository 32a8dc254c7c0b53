// Package gateway is the traffic provider for upshift's own front door
// (internal/frontdoor): it reads and sets a route's weights through the
// gateway's admin API, and verifies the gateway applies them.
package gateway
