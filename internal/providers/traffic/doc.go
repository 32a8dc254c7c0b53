// Package traffic defines what upshift needs from whatever sends users to
// clusters — a front door, DNS, a cloud traffic manager: read a route's
// weights and set them. A switch is a change of weights, so weighted,
// partial (canary) and complete (blue-green) switching are one operation.
// Abilities only some providers have are separate interfaces the engine
// checks for.
package traffic
