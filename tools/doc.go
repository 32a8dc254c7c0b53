// Package tools carries the sources of the local fleet's binaries: each
// sub-folder is its own Go module (a modfile and its go.sum, plus a main
// package where the binary is ours), pinned to an official release:
//
//   - kube: kube-apiserver, kube-controller-manager and kube-scheduler in one
//     binary, from k8s.io/kubernetes, one modfile per minor version
//     (kube/gen-modfile.sh writes a new one);
//   - etcd: go.etcd.io/etcd/server/v3's etcdmain;
//   - kwok: sigs.k8s.io/kwok/cmd/kwok.
//
// The files are embedded so that the upshift binary can build what is missing
// into its cache on any machine with a Go toolchain (internal/toolchain).
// Their main.go files carry the "ignore" build tag so that the upshift module
// itself neither builds them nor requires their dependencies.
package tools

import "embed"

// Sources holds the modules' files, by path relative to this folder.
//
//go:embed kube/*.mod kube/*.sum kube/main.go etcd kwok
var Sources embed.FS
