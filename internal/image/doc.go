// Package image builds upshift's OCI image without a container runtime:
// one layer over an empty base holding the static binary, CA certificates
// and a non-root user, with OCI labels naming the version and commit. The
// hub's Helm chart runs this image. Builds are reproducible: the same
// binary, certificates and labels give the same digest. It is written with
// go-containerregistry, which also writes the OCI layout or tarball and
// pushes to a registry (the `upshift-image` command, `make image`).
package image
