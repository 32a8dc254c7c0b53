#!/usr/bin/env bash
# Writes vMAJOR.MINOR.mod and .sum for a Kubernetes release. k8s.io/kubernetes
# cannot be required as a plain module: its go.mod replaces every staging
# module (k8s.io/api, k8s.io/client-go, ...) with ./staging/src/..., so we map
# each of them to its published v0.MINOR.PATCH instead.
# Usage: tools/kube/gen-modfile.sh 1.34.4
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${1#v}
minor=${version%.*}
staging_version=v0.${version#1.}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
upstream=$(go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
{
	echo "module upshift.dev/tools/kube"
	echo
	echo "go 1.24.0"
	echo
	echo "require k8s.io/kubernetes v$version"
	echo
	echo "replace ("
	sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$upstream"
	echo ")"
} > "$work/go.mod"
sed '1,2d' "$here/main.go" > "$work/main.go"
(cd "$work" && go mod tidy)
cp "$work/go.mod" "$here/v$minor.mod"
cp "$work/go.sum" "$here/v$minor.sum"
