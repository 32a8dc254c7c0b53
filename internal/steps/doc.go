// Package steps is what the planner knows of upgrade methods: a typed step
// (its kind and target as fields, never parsed from a name), the cluster
// facts a plan is made from, and the Planner each method registers (validate
// its part of a run, list a cluster's steps). It is light on purpose: the
// planner imports it, not the methods, whose execution lives in
// internal/methods and their own packages.
package steps
