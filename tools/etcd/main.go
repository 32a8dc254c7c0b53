//go:build ignore

// Command etcd is etcd's server, built from go.etcd.io/etcd/server/v3 at the
// version pinned by etcd.mod beside this file, for the local fleet.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
