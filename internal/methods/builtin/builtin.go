// Package builtin registers the upgrade methods upshift ships: import it
// for its side effect. Adding a method is its package plus one line here.
package builtin

import (
	_ "upshift.dev/upshift/internal/methods/bluegreen" // method: BlueGreen
	_ "upshift.dev/upshift/internal/methods/inplace"   // method: InPlace
)
