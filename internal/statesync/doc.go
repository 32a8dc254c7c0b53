// Package statesync copies a cluster's Kubernetes state to another for a
// blue-green move, and reports what still differs (drift). It reads objects
// of selected kinds and namespaces from blue with the dynamic client,
// strips what belongs to blue alone (uid, resourceVersion, managedFields,
// status, owner references of generated objects, cluster IPs, bound volume
// names, generated service-account tokens), skips system namespaces, and
// applies them to green with server-side apply, in dependency order. The
// drift report names fields, never their values: secrets stay secret.
package statesync
