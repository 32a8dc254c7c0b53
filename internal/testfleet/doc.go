// Package testfleet is the one helper integration tests use to run local
// clusters: TestMain hands it the test binary, which it also re-runs as the
// clusters' ingress stand-in daemon; each package gets a private fleet home
// and shares the machine's binary cache; every cluster is removed when the
// tests end, also when they fail.
package testfleet
