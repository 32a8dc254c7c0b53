// Package gatespec checks gate specs (their type and the fields each type
// needs) without running anything: the planner and every method use it, so
// a gate is written the same way in every list. Gate types register here
// (the API's own in this package; a new type through gates.Register).
package gatespec
