#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) and helm from their Go modules, pinned in
# hack/versions.env, into ~/.cache/holdfast/bin/<component>-<version>/.
# A component whose directory holds a .complete marker is reused as is.
#
#   hack/build-tools.sh                 build whatever is missing
#   hack/build-tools.sh kubernetes etcd only these
#   hack/build-tools.sh --print-dir X   print the bin dir of component X
set -euo pipefail
HACK=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$HACK/versions.env"
CACHE=${HOLDFAST_CACHE:-$HOME/.cache/holdfast}
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}

bin_dir() {
  case $1 in
    kubernetes) echo "$CACHE/bin/kubernetes-$KUBERNETES_VERSION" ;;
    etcd) echo "$CACHE/bin/etcd-$ETCD_VERSION" ;;
    helm) echo "$CACHE/bin/helm-$HELM_VERSION" ;;
    cert-manager-crds) echo "$CACHE/crds/cert-manager-$CERT_MANAGER_VERSION" ;;
    cloudnative-pg-crds) echo "$CACHE/crds/cloudnative-pg-$CLOUDNATIVE_PG_VERSION" ;;
    *) echo "unknown component: $1 (kubernetes, etcd, helm, cert-manager-crds, cloudnative-pg-crds)" >&2; return 2 ;;
  esac
}

if [[ ${1:-} == --print-dir ]]; then bin_dir "$2"; exit; fi

log() { printf '[build-tools] %s\n' "$*" >&2; }

# Only the main module's godebug lines count, so the wrapper copies the
# `godebug default=` of the module it builds.
copy_go_directives() { # <go.mod of upstream>
  local gomod=$1 gov dbg
  gov=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod" | head -1)
  dbg=$(sed -n 's/^godebug default=\(.*\)$/\1/p' "$gomod" | head -1)
  go mod edit -go="$gov"
  if [[ -n $dbg ]]; then go mod edit -godebug=default="$dbg"; fi
}

build_kubernetes() {
  local out=$1 v=$KUBERNETES_VERSION s minor gm work m
  s=0.${v#1.}; minor=${v#1.}; minor=${minor%%.*}
  work="$CACHE/build/kubernetes-$v"; rm -rf "$work"; mkdir -p "$work"; cd "$work"
  go mod init holdfast.local/k8sbins >/dev/null 2>&1
  gm=$(go mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  copy_go_directives "$gm"
  # Generated from upstream's own replace list so that new staging modules
  # of a later version need no edit here.
  for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*|\1|p' "$gm"); do
    go mod edit -replace="$m=$m@v$s"
  done
  go get "k8s.io/kubernetes@v$v"
  local cmds="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl" c
  # Each tool names the version: a bare `go get -tool pkg` means @upgrade and
  # would move k8s.io/kubernetes to the newest release.
  for c in $cmds; do go get -tool "$c@v$v"; done
  go mod tidy
  # Version ldflags as upstream hack/lib/version.sh sets them; without them
  # /version reports v0.0.0-master and helm's kubeVersion checks fail.
  local l="-X k8s.io/component-base/version.gitVersion=v$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  l="$l ${l//component-base\/version/client-go\/pkg\/version}"
  # shellcheck disable=SC2086
  go build -trimpath -tags=notest -ldflags "-s -w $l" -o "$out/" $cmds
}

build_etcd() {
  local out=$1 work="$CACHE/build/etcd-$ETCD_VERSION"
  rm -rf "$work"; mkdir -p "$work"; cd "$work"
  # A module of its own so etcd's grpc/otel versions never mix with Kubernetes'.
  go mod init holdfast.local/etcdbin >/dev/null 2>&1
  local gm
  gm=$(go mod download -json "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  copy_go_directives "$gm"
  go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
}

build_helm() {
  local out=$1 work="$CACHE/build/helm-$HELM_VERSION"
  rm -rf "$work"; mkdir -p "$work"; cd "$work"
  go mod init holdfast.local/helmbin >/dev/null 2>&1
  local gm
  gm=$(go mod download -json "helm.sh/helm/v3@v$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  copy_go_directives "$gm"
  go get -tool "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  go mod tidy
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" -o "$out/helm" helm.sh/helm/v3/cmd/helm
}

build_cert-manager-crds() {
  local out=$1 dir
  dir=$(go mod download -json "github.com/cert-manager/cert-manager@v$CERT_MANAGER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  cp "$dir"/deploy/crds/cert-manager.io_*.yaml "$out/"
  chmod u+w "$out"/*.yaml
}

build_cloudnative-pg-crds() {
  local out=$1 dir
  dir=$(go mod download -json "github.com/cloudnative-pg/cloudnative-pg@v$CLOUDNATIVE_PG_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  cp "$dir"/config/crd/bases/postgresql.cnpg.io_clusters.yaml "$out/"
  chmod u+w "$out"/*.yaml
}

build() { # <component>
  local c=$1 out start
  out=$(bin_dir "$c")
  if [[ -f $out/.complete ]]; then log "$c: cached in $out"; return; fi
  start=$(date +%s)
  log "$c: building into $out (first time on this machine; later runs reuse it)"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  ( "build_$c" "$out.tmp" ) >"$CACHE/build/$c.log" 2>&1 || {
    log "$c: build failed; last lines of $CACHE/build/$c.log:"; tail -20 "$CACHE/build/$c.log" >&2; return 1; }
  touch "$out.tmp/.complete"; rm -rf "$out"; mv "$out.tmp" "$out"
  log "$c: built in $(( $(date +%s) - start ))s"
}

mkdir -p "$CACHE/bin" "$CACHE/build" "$CACHE/crds"
components=("$@"); [[ ${#components[@]} -gt 0 ]] || components=(etcd kubernetes helm cert-manager-crds cloudnative-pg-crds)
for c in "${components[@]}"; do build "$c"; done
