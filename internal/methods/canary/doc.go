// Package canary is the Canary upgrade method: green is built, filled and
// validated by the blue-green phases T0–T2 (the same code, not a copy),
// then takes a growing share of the cluster name's traffic in steps
// (T3-Canary 1…n), each held for its pause while the analysis compares
// green with blue; any failed analysis sends all traffic back to blue,
// lifts the freeze and keeps green for inspection. After the last step
// (100%) blue is retired as in T4. `upshift promote` skips the steps left.
package canary
