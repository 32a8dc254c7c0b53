#!/usr/bin/env bash
# An exec provider (docs/providers/exec.md) for Amazon EKS, through the AWS
# CLI (v2). The fleet entry names it with the cluster's region:
#
#   exec:
#     name: prod                                    # the EKS cluster's name
#     command: [./eks.sh, --region, eu-west-1]
#     env: {AWS_PROFILE: prod}
#     timeouts: {upgrade-control-plane: 60m, upgrade-node-pool: 3h}
#   kubeconfig: ./prod.kubeconfig                   # from `aws eks update-kubeconfig`
#
# Node pools are EKS managed node groups. upgrade-control-plane and
# upgrade-node-pool start EKS's own update and wait for it; a call made
# again after a crash finds the cluster or group at the target and does
# nothing. EKS runs one minor per control-plane update, as upshift asks.
# Creating and deleting clusters (blue-green) is left to eksctl or
# Terraform: this example refuses them.
set -euo pipefail

region=()
while [ $# -gt 1 ]; do
  case "$1" in
  --region) region=(--region "$2"); shift 2 ;;
  *) echo "eks.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
op="${1:?usage: eks.sh [--region R] OPERATION (the request comes on stdin)}"
name="${UPSHIFT_EXEC_CLUSTER:-}"
poll="${EKS_POLL_SECONDS:-30}"

# eks runs `aws eks …`; a throttled or unreachable API is a passing fault
# (exit 75: upshift runs the operation again), a missing cluster exit 3.
eks() {
  local err rc=0 out
  err=$(mktemp)
  out=$(aws eks "$@" "${region[@]}" 2>"$err") || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$err" >&2
    if grep -q ResourceNotFoundException "$err"; then rm -f "$err"; exit 3; fi
    if grep -qE 'ThrottlingException|TooManyRequests|Could not connect|Connect timeout' "$err"; then rm -f "$err"; exit 75; fi
    rm -f "$err"
    exit "$rc"
  fi
  rm -f "$err"
  printf '%s' "$out"
}

# nodegroup prints a node group's version, release (AMI) version and size.
nodegroup() {
  eks describe-nodegroup --cluster-name "$name" --nodegroup-name "$1" \
    --query '[nodegroup.version,nodegroup.releaseVersion,nodegroup.scalingConfig.desiredSize]' --output text
}

minor() { echo "${1#v}" | awk -F. '{print $1"."$2}'; }

# wait_update waits for an EKS update to end, and fails unless it succeeded.
wait_update() {
  local id="$1"; shift
  while :; do
    status=$(eks describe-update "$@" --update-id "$id" --query update.status --output text)
    echo "EKS update $id: $status" >&2
    case "$status" in
    Successful) return 0 ;;
    Failed|Cancelled) echo "EKS update $id ended $status" >&2; exit 1 ;;
    esac
    sleep "$poll"
  done
}

case "$op" in
get)
  version=$(eks describe-cluster --name "$name" --query cluster.version --output text)
  pools=""
  # (Each call is an assignment, so that its exit status ends the script.)
  groups=$(eks list-nodegroups --cluster-name "$name" --query 'nodegroups[]' --output text)
  for ng in $groups; do
    line=$(nodegroup "$ng")
    read -r ngv release size <<<"$line"
    pools+="${pools:+,}{\"name\":\"$ng\",\"count\":$size,\"kubernetesVersion\":\"$ngv\",\"nodeImage\":\"$release\"}"
  done
  printf '{"name":"%s","kubernetesVersion":"%s","nodePools":[%s]}\n' "$name" "$version" "$pools"
  ;;
versions)
  list=$(eks describe-cluster-versions --query 'clusterVersions[].clusterVersion' --output text)
  printf '{"versions":[%s]}\n' "$(printf '%s\n' $list | sed 's/.*/"&"/' | paste -sd, -)"
  ;;
upgrade-control-plane)
  want=$(minor "$UPSHIFT_EXEC_KUBERNETES_VERSION")
  now=$(eks describe-cluster --name "$name" --query cluster.version --output text)
  if [ "$now" = "$want" ]; then echo "control plane already on $want" >&2; exit 0; fi
  id=$(eks update-cluster-version --name "$name" --kubernetes-version "$want" --query update.id --output text)
  wait_update "$id" --name "$name"
  ;;
upgrade-node-pool)
  pool="$UPSHIFT_EXEC_POOL"
  line=$(nodegroup "$pool")
  read -r ngv release _ <<<"$line"
  args=()
  if [ -n "${UPSHIFT_EXEC_KUBERNETES_VERSION:-}" ] && [ "$(minor "$UPSHIFT_EXEC_KUBERNETES_VERSION")" != "$ngv" ]; then
    args+=(--kubernetes-version "$(minor "$UPSHIFT_EXEC_KUBERNETES_VERSION")")
  fi
  if [ -n "${UPSHIFT_EXEC_NODE_IMAGE:-}" ] && [ "$UPSHIFT_EXEC_NODE_IMAGE" != "$release" ]; then
    args+=(--release-version "$UPSHIFT_EXEC_NODE_IMAGE")
  fi
  if [ ${#args[@]} -eq 0 ]; then echo "node group $pool already at the target" >&2; echo '{"replaced":0}'; exit 0; fi
  # EKS drains each node itself, within its own budget; a surge given
  # as a count becomes the group's maxUnavailable.
  if [[ "${UPSHIFT_EXEC_MAX_SURGE:-}" =~ ^[0-9]+$ ]]; then
    id=$(eks update-nodegroup-config --cluster-name "$name" --nodegroup-name "$pool" \
      --update-config "maxUnavailable=$UPSHIFT_EXEC_MAX_SURGE" --query update.id --output text)
    wait_update "$id" --name "$name" --nodegroup-name "$pool"
  fi
  id=$(eks update-nodegroup-version --cluster-name "$name" --nodegroup-name "$pool" "${args[@]}" --query update.id --output text)
  wait_update "$id" --name "$name" --nodegroup-name "$pool"
  ;;
create|delete)
  echo "eks.sh does not $op clusters: use eksctl or Terraform for blue-green moves" >&2
  exit 1
  ;;
*)
  echo "eks.sh: unknown operation $op" >&2
  exit 64
  ;;
esac
