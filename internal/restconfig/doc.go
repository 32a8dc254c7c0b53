// Package restconfig turns a kubeconfig file and context into a client
// configuration, as kubectl reads them ($KUBECONFIG, ~/.kube/config),
// with the rate limits upshift's commands use.
package restconfig
