// Package methods is how the engine does a cluster's steps without knowing
// any method: a Method plans (steps.Planner) and executes typed steps, given
// an Env the engine builds for one cluster of one run (status, progress,
// gates, cluster resolution, traffic). A method that can undo its moves is
// also RollingBack. Each method is a package below this one (inplace,
// bluegreen); internal/builtin registers them, one line each.
package methods
