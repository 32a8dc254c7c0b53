// Package builtin registers the cluster providers upshift ships: import it
// for its side effect. Adding a provider is its package plus one line here.
package builtin

import (
	_ "upshift.dev/upshift/internal/providers/cluster/local" // provider: local
)
