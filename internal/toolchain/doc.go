// Package toolchain knows which Kubernetes, etcd and kwok releases the local
// fleet runs, and builds their binaries from the official Go modules (the
// sources in the tools folder) into a cache keyed by version and by the
// pinned module files, so that a warm machine never builds twice.
package toolchain
