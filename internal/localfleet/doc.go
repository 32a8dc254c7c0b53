// Package localfleet runs real Kubernetes clusters on loopback: for each
// cluster an etcd, a kube-apiserver with TLS, RBAC and service-account keys,
// a kube-controller-manager, a kube-scheduler, a kwok controller standing in
// for kubelets, and an ingress stand-in, all as processes that outlive the
// command that started them. State (certificates, kubeconfigs, process
// records, logs, etcd data) lives under one folder per cluster with 0700/0600
// permissions.
//
// It is the embedded default of upshift and the test bed of every
// integration test; the local cluster provider drives it.
package localfleet
