// Package exec is the cluster provider of any platform upshift does not
// drive itself (EKS through eksctl, GKE through gcloud, kubeadm, Terraform,
// Cluster API): the user names a command, and upshift runs it once per
// operation, with the request as JSON on stdin and in UPSHIFT_EXEC_*
// variables, and reads the answer as JSON on stdout. docs/providers/exec.md
// is the contract; Request and the cluster package's Cluster are its wire
// types.
//
// A command that fails, hangs past its timeout or prints something that
// is not the contract's JSON fails the step with the operation, the exit
// code and the last lines it wrote to stderr; nothing is retried unless
// the command asks for it with exit code 75, and nothing of the run is
// lost, so the step can be resumed once the command is fixed.
package exec
