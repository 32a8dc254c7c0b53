// Package names validates every user-given name that becomes a file path or
// an object name — local clusters, update runs, fleet clusters, gateway
// routes — in one place, before anything is touched. A name that fails is
// bad input: the CLI exits 2 and nothing changes. The rules are
// Kubernetes' own (DNS-1123), which also keep ".", "..", slashes and other
// path tricks out of the state directory.
package names
