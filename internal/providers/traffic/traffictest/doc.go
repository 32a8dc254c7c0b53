// Package traffictest is the contract every traffic provider passes
// before it is listed: the same cases run against each front door that
// runs here (upshift's gateway, HAProxy, BIND for DNS, the Azure emulator
// for Traffic Manager): weights set and read back, a rollback, refusals
// that change nothing, a switch resumed by another process, concurrent
// writers, and routes edited whole where the provider edits them.
package traffictest
