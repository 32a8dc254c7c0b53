#!/usr/bin/env bash
# An exec provider (docs/providers/exec.md) for Google Kubernetes Engine,
# through gcloud. The fleet entry names it with the cluster's location:
#
#   exec:
#     name: prod                                    # the GKE cluster's name
#     command: [./gke.sh, --location, europe-west1, --project, my-project]
#     timeouts: {upgrade-control-plane: 60m, upgrade-node-pool: 3h}
#   kubeconfig: ./prod.kubeconfig                   # from `gcloud container clusters get-credentials`
#
# Node pools are GKE node pools, upgraded to the control plane's version
# (GKE's surge upgrade; a surge given as a count is set on the pool first).
# A call made again after a crash finds the cluster or pool at the target
# and does nothing. GKE names versions with its own suffix
# (1.36.3-gke.1200): upshift sees 1.36.3, and this script maps a target
# back to the full version GKE offers. Creating and deleting clusters
# (blue-green) is left to gcloud or Terraform: this example refuses them.
set -euo pipefail

where=()
while [ $# -gt 1 ]; do
  case "$1" in
  --location|--project) where+=("$1" "$2"); shift 2 ;;
  *) echo "gke.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
op="${1:?usage: gke.sh [--location L] [--project P] OPERATION (the request comes on stdin)}"
name="${UPSHIFT_EXEC_CLUSTER:-}"

# gc runs `gcloud container …`; a missing cluster is exit 3, a quota or
# unavailable API a passing fault (exit 75: upshift runs it again).
gc() {
  local err rc=0 out
  err=$(mktemp)
  out=$(gcloud container "$@" "${where[@]}" 2>"$err") || rc=$?
  cat "$err" >&2
  if [ "$rc" -ne 0 ]; then
    if grep -qE 'code=404|NOT_FOUND' "$err"; then rm -f "$err"; exit 3; fi
    if grep -qE 'code=429|code=503|RESOURCE_EXHAUSTED|UNAVAILABLE' "$err"; then rm -f "$err"; exit 75; fi
    rm -f "$err"
    exit "$rc"
  fi
  rm -f "$err"
  printf '%s' "$out"
}

# plain is a GKE version without its suffix: 1.36.3-gke.1200 → 1.36.3.
plain() { local v="${1#v}"; echo "${v%%-*}"; }

# offered maps a target (1.37 or 1.37.1) to the newest full version GKE
# offers for it.
offered() {
  local want all v
  want=$(plain "$1")
  all=$(gc get-server-config --format='value(validMasterVersions)')
  for v in ${all//;/ }; do
    case "$(plain "$v")" in
    "$want"|"$want".*) echo "$v"; return 0 ;;
    esac
  done
  echo "GKE offers no version $want here: $all" >&2
  exit 1
}

case "$op" in
get)
  version=$(gc clusters describe "$name" --format='value(currentMasterVersion)')
  listed=$(gc node-pools list --cluster "$name" --format='value(name,version,initialNodeCount)')
  pools=""
  while read -r pool pv count; do
    [ -n "$pool" ] || continue
    pools+="${pools:+,}{\"name\":\"$pool\",\"count\":$count,\"kubernetesVersion\":\"$(plain "$pv")\"}"
  done <<<"$listed"
  printf '{"name":"%s","kubernetesVersion":"%s","nodePools":[%s]}\n' "$name" "$(plain "$version")" "$pools"
  ;;
versions)
  all=$(gc get-server-config --format='value(validMasterVersions)')
  printf '{"versions":[%s]}\n' "$(for v in ${all//;/ }; do echo "\"$(plain "$v")\""; done | sort -u | paste -sd, -)"
  ;;
upgrade-control-plane)
  target=$(offered "$UPSHIFT_EXEC_KUBERNETES_VERSION")
  now=$(gc clusters describe "$name" --format='value(currentMasterVersion)')
  if [ "$(plain "$now")" = "$(plain "$target")" ]; then echo "control plane already on $now" >&2; exit 0; fi
  gc clusters upgrade "$name" --master --cluster-version "$target" --quiet >/dev/null
  ;;
upgrade-node-pool)
  pool="$UPSHIFT_EXEC_POOL"
  if [ -n "${UPSHIFT_EXEC_NODE_IMAGE:-}" ]; then
    echo "gke.sh: GKE node images follow the node version; a run of type NodeImageOnly does not apply" >&2
    exit 1
  fi
  target=$(gc clusters describe "$name" --format='value(currentMasterVersion)')
  [ -n "${UPSHIFT_EXEC_KUBERNETES_VERSION:-}" ] && target=$(offered "$UPSHIFT_EXEC_KUBERNETES_VERSION")
  now=$(gc node-pools describe "$pool" --cluster "$name" --format='value(version)')
  if [ "$(plain "$now")" = "$(plain "$target")" ]; then echo "node pool $pool already on $now" >&2; echo '{"replaced":0}'; exit 0; fi
  if [[ "${UPSHIFT_EXEC_MAX_SURGE:-}" =~ ^[0-9]+$ ]]; then
    gc node-pools update "$pool" --cluster "$name" --max-surge-upgrade "$UPSHIFT_EXEC_MAX_SURGE" --max-unavailable-upgrade 0 --quiet >/dev/null
  fi
  gc clusters upgrade "$name" --node-pool "$pool" --cluster-version "$target" --quiet >/dev/null
  ;;
create|delete)
  echo "gke.sh does not $op clusters: use gcloud or Terraform for blue-green moves" >&2
  exit 1
  ;;
*)
  echo "gke.sh: unknown operation $op" >&2
  exit 64
  ;;
esac
