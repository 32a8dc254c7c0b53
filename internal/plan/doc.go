// Package plan reads update runs and strategies (upshift's own YAML, and
// Azure Fleet's stages JSON unchanged), validates them with field paths and
// says what is allowed, and turns a run and a fleet into a plan: stages →
// groups → clusters → steps, with the control plane's minor-version hops
// spelled out. A plan is pure data; the engine executes it.
package plan
