// Package gates evaluates the checks an update run waits on: TimedWait
// (soak), Approval (recorded with who and when), KubernetesHealth (API
// server, nodes, workloads, crash loops, stuck pods), HTTP (status and body,
// optional Host header), Command (a user's script; exit 0 passes, its
// output is kept) and Prometheus (a PromQL query measured against a
// condition, Argo Rollouts' way). Each gate retries at its interval until
// it passes, its failure threshold is reached or its timeout runs out;
// a Prometheus gate measures its count and applies its limits instead.
// Each type registers (Register), so a new gate type is one package and
// one Register call.
package gates
