// Package readiness audits the workloads a node drain will touch, before an
// upgrade: budgets that can never allow an eviction (the most common cause of
// stuck drains), pods the eviction API refuses or a drain waits for forever,
// single replicas, missing probes and preStop hooks, pods and data that a
// drain loses, node version skew, and services that will not follow their
// pods. Each check is one small function over an Inventory, so adding a
// check is adding a function and its table test.
package readiness
