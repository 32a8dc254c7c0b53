#!/usr/bin/env bash
# An exec provider (docs/providers/exec.md) for a kubeadm cluster, upgraded
# as the Kubernetes documentation's "Upgrading kubeadm clusters" does it by
# hand: kubeadm on the first control-plane node (`kubeadm upgrade apply`),
# then on the others (`kubeadm upgrade node`), each node's kubelet after a
# drain. Nodes are reached with ssh; packages come from pkgs.k8s.io through
# apt, whose repository is one minor each (the script moves it to the
# target's minor, as the documentation asks). The fleet entry:
#
#   exec:
#     name: onprem                                  # any name: the kubeconfig says which cluster
#     command: [./kubeadm.sh]
#     env: {KUBECONFIG: /etc/fleet/onprem.kubeconfig,   # for the script's kubectl
#           KUBEADM_SSH_USER: admin}                # ssh as this user (sudo without a password)
#     timeouts: {upgrade-control-plane: 60m, upgrade-node-pool: 3h}
#   kubeconfig: /etc/fleet/onprem.kubeconfig        # for upshift's own checks
#
# Node pools are the worker nodes grouped by the label KUBEADM_POOL_LABEL
# (default node.kubernetes.io/pool; nodes without it are the pool
# "workers"). Control-plane nodes' kubelets are upgraded with the control
# plane. A pool is upgraded in place, one node at a time (kubeadm clusters
# have no spare nodes to surge with), so maxSurge is not used; a call made
# again after a crash finds the nodes at the target and does nothing. Node
# images (the OS) are your configuration management's: a node-image upgrade
# is refused, as are create and delete.
set -euo pipefail

op="${1:?usage: kubeadm.sh OPERATION (the request comes on stdin)}"
name="${UPSHIFT_EXEC_CLUSTER:-}"
label="${KUBEADM_POOL_LABEL:-node.kubernetes.io/pool}"
ssh_cmd="${KUBEADM_SSH:-ssh}"
drain_timeout="${UPSHIFT_EXEC_DRAIN_TIMEOUT_SECONDS:-1800}"

# on runs a command on a node, as root.
on() {
  local node="$1"; shift
  $ssh_cmd -o BatchMode=yes "${KUBEADM_SSH_USER:+$KUBEADM_SSH_USER@}$node" sudo "$@"
}

# k runs kubectl; an API server that does not answer is a passing fault
# (exit 75: upshift runs the operation again).
k() {
  local err rc=0 out
  err=$(mktemp)
  out=$(kubectl "$@" 2>"$err") || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$err" >&2
    if grep -qE 'connection refused|i/o timeout|TLS handshake timeout|Unable to connect' "$err"; then rm -f "$err"; exit 75; fi
    rm -f "$err"
    exit "$rc"
  fi
  rm -f "$err"
  printf '%s' "$out"
}

server_version() { k get --raw /version | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -1; }
minor() { echo "${1#v}" | awk -F. '{print $1"."$2}'; }
control_planes() { k get nodes -l node-role.kubernetes.io/control-plane -o custom-columns=NAME:.metadata.name,KUBELET:.status.nodeInfo.kubeletVersion --no-headers | sort; }
# workers prints NAME POOL KUBELET OS-IMAGE (the OS image last: it has spaces).
workers() {
  k get nodes -l '!node-role.kubernetes.io/control-plane' \
    -o "custom-columns=NAME:.metadata.name,POOL:.metadata.labels.${label//./\\.},KUBELET:.status.nodeInfo.kubeletVersion,OS:.status.nodeInfo.osImage" --no-headers |
    awk '{ if ($2 == "<none>") $2 = "workers"; print }' | sort
}

# stable prints the newest patch of a minor, as dl.k8s.io publishes it.
stable() { on "$1" curl -fsSL "https://dl.k8s.io/release/stable-$2.txt"; }

# packages installs kubeadm, or kubelet and kubectl, at version v on a
# node, from the repository of v's minor.
packages() {
  local node="$1" v="${2#v}"; shift 2
  on "$node" sed -i "s|/v[0-9]*\.[0-9]*/|/v$(minor "$v")/|" /etc/apt/sources.list.d/kubernetes.list
  on "$node" apt-get update -q
  local pkgs=()
  for p in "$@"; do pkgs+=("$p=$v-*"); done
  on "$node" apt-get install -y -q --allow-change-held-packages "${pkgs[@]}"
}

# upgrade_kubelet drains a node, upgrades its kubelet to v and brings it
# back.
upgrade_kubelet() {
  local node="$1" v="$2"
  echo "draining $node" >&2
  k drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout="${drain_timeout}s" >/dev/null
  packages "$node" "$v" kubelet kubectl
  on "$node" systemctl daemon-reload
  on "$node" systemctl restart kubelet
  k uncordon "$node" >/dev/null
  echo "$node runs kubelet $v" >&2
}

# target is the version asked for: a patch as given, a minor as its newest.
target() {
  local want="$1"
  if [ "$(echo "${want#v}" | awk -F. '{print NF}')" -ge 3 ]; then echo "v${want#v}"; return; fi
  read -r first _ < <(control_planes)
  echo "v$(stable "$first" "$(minor "$want")" | sed 's/^v//')"
}

lock() { exec 9>"${TMPDIR:-/tmp}/upshift-kubeadm-${name//\//_}.lock"; flock 9; }

case "$op" in
get)
  version=$(server_version)
  pools=""
  current="" count=0 pv="" image=""
  flush() {
    if [ -n "$current" ]; then
      pools+="${pools:+,}{\"name\":\"$current\",\"count\":$count,\"kubernetesVersion\":\"$pv\",\"nodeImage\":\"$image\"}"
    fi
  }
  all=$(workers)
  while read -r node pool kv os; do
    [ -n "$node" ] || continue
    if [ "$pool" != "$current" ]; then flush; current="$pool" count=0 pv="$kv" image="$os"; fi
    # A pool part-way through is at its oldest kubelet.
    pv=$(printf '%s\n%s\n' "$pv" "$kv" | sort -V | head -1)
    count=$((count + 1))
  done < <(printf '%s\n' "$all" | sort -k2,2 -k1,1)
  flush
  printf '{"name":"%s","kubernetesVersion":"%s","nodePools":[%s]}\n' "$name" "$version" "$pools"
  ;;
versions)
  version=$(server_version)
  read -r first _ < <(control_planes)
  m=$(minor "$version")
  next="${m%.*}.$((${m#*.} + 1))"
  list="\"v$(stable "$first" "$m" | sed 's/^v//')\""
  if v=$(stable "$first" "$next" 2>/dev/null); then list+=",\"v${v#v}\""; fi
  printf '{"versions":[%s]}\n' "$list"
  ;;
upgrade-control-plane)
  lock
  want=$(target "$UPSHIFT_EXEC_KUBERNETES_VERSION")
  cps=$(control_planes)
  first=$(printf '%s\n' "$cps" | head -1 | awk '{print $1}')
  if [ "$(server_version)" != "$want" ]; then
    packages "$first" "$want" kubeadm
    echo "kubeadm upgrade apply $want on $first" >&2
    on "$first" kubeadm upgrade apply -y "$want"
    for node in $(printf '%s\n' "$cps" | tail -n +2 | awk '{print $1}'); do
      packages "$node" "$want" kubeadm
      echo "kubeadm upgrade node on $node" >&2
      on "$node" kubeadm upgrade node
    done
  else
    echo "control plane already on $want" >&2
  fi
  # The control-plane nodes' kubelets follow it.
  printf '%s\n' "$cps" | while read -r node kv; do
    if [ "$kv" != "$want" ]; then upgrade_kubelet "$node" "$want"; fi
  done
  ;;
upgrade-node-pool)
  if [ -n "${UPSHIFT_EXEC_NODE_IMAGE:-}" ]; then
    echo "kubeadm.sh does not change node images: the OS is your configuration management's" >&2
    exit 1
  fi
  lock
  want=$(target "$UPSHIFT_EXEC_KUBERNETES_VERSION")
  pool="$UPSHIFT_EXEC_POOL"
  replaced=0
  for node in $(workers | awk -v p="$pool" -v w="$want" '$2 == p && $3 != w {print $1}'); do
    packages "$node" "$want" kubeadm
    on "$node" kubeadm upgrade node
    upgrade_kubelet "$node" "$want"
    replaced=$((replaced + 1))
  done
  printf '{"replaced":%d,"batches":%d}\n' "$replaced" "$replaced"
  ;;
create|delete)
  echo "kubeadm.sh does not $op clusters: build them with your own tooling (Cluster API, Terraform)" >&2
  exit 1
  ;;
*)
  echo "kubeadm.sh: unknown operation $op" >&2
  exit 64
  ;;
esac
