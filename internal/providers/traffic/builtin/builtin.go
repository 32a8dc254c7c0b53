// Package builtin registers the traffic providers upshift ships: import
// it for its side effect. Adding a provider is its package plus one line
// here.
package builtin

import (
	_ "upshift.dev/upshift/internal/providers/traffic/dns"     // provider: dns (RFC 2136 + TSIG)
	_ "upshift.dev/upshift/internal/providers/traffic/gateway" // provider: gateway (upshift's own front door)
)
