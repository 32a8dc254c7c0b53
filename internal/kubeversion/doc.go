// Package kubeversion is upshift's one notion of a Kubernetes version:
// parsing what users and clusters write ("1.35", "v1.35.2", a managed
// cluster's "v1.35.2-eks-a737599"), comparing, the minor hops of a
// control-plane upgrade, and the version skew policy. Parsing is
// apimachinery's util/version; the plan, the toolchain, the scans and the
// providers all use this package.
package kubeversion
