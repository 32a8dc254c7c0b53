// Package builtin registers everything upshift ships that registers by
// name: upgrade methods, cluster providers, traffic providers. Import it
// for its side effect. Adding a method or a provider is its own package
// plus one line here; the engine and the planner do not change.
package builtin

import (
	_ "upshift.dev/upshift/internal/methods/bluegreen"         // method: BlueGreen
	_ "upshift.dev/upshift/internal/methods/inplace"           // method: InPlace
	_ "upshift.dev/upshift/internal/providers/cluster/local"   // cluster provider: local
	_ "upshift.dev/upshift/internal/providers/traffic/dns"     // traffic provider: dns (RFC 2136 + TSIG)
	_ "upshift.dev/upshift/internal/providers/traffic/gateway" // traffic provider: gateway (upshift's own front door)
)
