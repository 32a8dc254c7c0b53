// Package pki makes the certificates and keys a local control plane needs:
// a cluster CA, serving and client certificates signed by it, and the
// service-account signing key. Keys are ECDSA P-256, fast to make.
package pki
