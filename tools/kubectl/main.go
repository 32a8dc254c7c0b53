// Command kubectl is kubectl as k8s.io/kubernetes/cmd/kubectl builds it,
// from the k8s.io/kubectl upshift links (go.mod pins it). The docs'
// examples run it in tests (internal/doctest), where no kubectl is
// installed; use your own anywhere else.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
