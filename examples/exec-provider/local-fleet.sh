#!/usr/bin/env bash
# An exec provider (docs/providers/exec.md) that drives the local fleet
# through `upshift local`: the template for your own, where eksctl, gcloud,
# kubeadm or terraform would stand in place of `upshift local`.
#
# upshift runs it once per operation, the operation as the last argument,
# the request as JSON on stdin and in UPSHIFT_EXEC_* variables. stdout is
# the answer (JSON), stderr is progress. Exit 0 done, 3 no such cluster,
# 75 try again later, anything else failed.
set -euo pipefail

op="${1:?usage: local-fleet.sh OPERATION (the request comes on stdin)}"
upshift="${UPSHIFT_BIN:-upshift}"
name="${UPSHIFT_EXEC_CLUSTER:-}"

# up runs upshift without the lock's descriptor: daemons it starts must
# not hold the lock after this operation ends.
up() { "$upshift" "$@" 9>&-; }

# not_found maps `upshift local`'s exit 2 for a cluster that does not
# exist to the contract's 3.
not_found() {
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -eq 2 ]; then exit 3; fi
  return "$rc"
}

# After upshift is killed, the command it ran goes on, and a resume runs
# the operation again: one lock per cluster makes the second call wait for
# the first and then find the work done.
lock() {
  local dir="${UPSHIFT_HOME:-$HOME/.upshift}"
  mkdir -p "$dir"
  exec 9>"$dir/exec-provider-$name.lock"
  flock 9
}

case "$op" in
get)
  not_found up local get "$name" -o json
  ;;
versions)
  up local versions -o json
  ;;
upgrade-control-plane)
  lock
  # Idempotent: the local fleet does nothing for a control plane already
  # at the version, so a call repeated after a crash is harmless.
  up local upgrade-control-plane "$name" --kubernetes-version "$UPSHIFT_EXEC_KUBERNETES_VERSION" >&2
  ;;
upgrade-node-pool)
  lock
  args=(local upgrade-node-pool "$name" "$UPSHIFT_EXEC_POOL" -o json)
  [ -n "${UPSHIFT_EXEC_KUBERNETES_VERSION:-}" ] && args+=(--kubernetes-version "$UPSHIFT_EXEC_KUBERNETES_VERSION")
  [ -n "${UPSHIFT_EXEC_NODE_IMAGE:-}" ] && args+=(--node-image "$UPSHIFT_EXEC_NODE_IMAGE")
  [ -n "${UPSHIFT_EXEC_MAX_SURGE:-}" ] && args+=(--max-surge "$UPSHIFT_EXEC_MAX_SURGE")
  [ -n "${UPSHIFT_EXEC_DRAIN_TIMEOUT_SECONDS:-}" ] && args+=(--drain-timeout "${UPSHIFT_EXEC_DRAIN_TIMEOUT_SECONDS}s")
  [ -n "${UPSHIFT_EXEC_NODE_SOAK_SECONDS:-}" ] && args+=(--node-soak "${UPSHIFT_EXEC_NODE_SOAK_SECONDS}s")
  [ -n "${UPSHIFT_EXEC_UNDRAINABLE_NODE_BEHAVIOR:-}" ] && args+=(--undrainable "$UPSHIFT_EXEC_UNDRAINABLE_NODE_BEHAVIOR")
  up "${args[@]}"
  ;;
create)
  lock
  args=(local up "$name" --kubernetes-version "$UPSHIFT_EXEC_KUBERNETES_VERSION")
  IFS=, read -ra pools <<<"${UPSHIFT_EXEC_NODE_POOLS:-}"
  for p in "${pools[@]}"; do args+=(--node-pool "$p"); done
  [ -n "${UPSHIFT_EXEC_NODE_IMAGE:-}" ] && args+=(--node-image "$UPSHIFT_EXEC_NODE_IMAGE")
  up "${args[@]}" >&2
  up local get "$name" -o json
  ;;
delete)
  lock
  not_found up local down "$name" >&2
  ;;
*)
  echo "local-fleet.sh: unknown operation $op" >&2
  exit 64
  ;;
esac
