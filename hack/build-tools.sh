#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), the node (kubelet, kube-proxy, CoreDNS, crictl,
# kube-router), helm, versitygw (the tests' S3 server) and CloudNativePG's
# operator from their Go modules, pinned in hack/versions.env, into
# ~/.cache/holdfast/bin/<component>-<version>/.
# A component whose directory holds a .complete marker is reused as is.
#
#   hack/build-tools.sh                 build whatever is missing
#   hack/build-tools.sh kubernetes etcd only these (components: see bin_dir)
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
    kubernetes-node) echo "$CACHE/bin/kubernetes-node-$KUBERNETES_VERSION" ;;
    coredns) echo "$CACHE/bin/coredns-$COREDNS_VERSION" ;;
    crictl) echo "$CACHE/bin/crictl-$CRICTL_VERSION" ;;
    kube-router) echo "$CACHE/bin/kube-router-$KUBE_ROUTER_VERSION" ;;
    etcd) echo "$CACHE/bin/etcd-$ETCD_VERSION" ;;
    helm) echo "$CACHE/bin/helm-$HELM_VERSION" ;;
    versitygw) echo "$CACHE/bin/versitygw-$VERSITYGW_VERSION" ;;
    cert-manager-crds) echo "$CACHE/crds/cert-manager-$CERT_MANAGER_VERSION" ;;
    cloudnative-pg-crds) echo "$CACHE/crds/cloudnative-pg-$CLOUDNATIVE_PG_VERSION" ;;
    cloudnative-pg) echo "$CACHE/bin/cloudnative-pg-$CLOUDNATIVE_PG_VERSION" ;;
    *) echo "unknown component: $1 (kubernetes, kubernetes-node, etcd, coredns, crictl, kube-router, helm, versitygw, cert-manager-crds, cloudnative-pg-crds, cloudnative-pg)" >&2; return 2 ;;
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

# One wrapper module per set of commands; the control plane and the node use
# the same recipe, so every shared package resolves to the same version and
# the second build reuses the first one's GOCACHE.
build_kubernetes_cmds() { # <out> <work dir name> <cmd...>
  local out=$1 name=$2 v=$KUBERNETES_VERSION s minor gm work m; shift 2
  s=0.${v#1.}; minor=${v#1.}; minor=${minor%%.*}
  work="$CACHE/build/$name-$v"; rm -rf "$work"; mkdir -p "$work"; cd "$work"
  go mod init "holdfast.local/$name" >/dev/null 2>&1
  gm=$(go mod download -json "k8s.io/kubernetes@v$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  copy_go_directives "$gm"
  # Generated from upstream's own replace list so that new staging modules
  # of a later version need no edit here.
  for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*|\1|p' "$gm"); do
    go mod edit -replace="$m=$m@v$s"
  done
  go get "k8s.io/kubernetes@v$v"
  local c
  # Each tool names the version: a bare `go get -tool pkg` means @upgrade and
  # would move k8s.io/kubernetes to the newest release.
  for c in "$@"; do go get -tool "$c@v$v"; done
  go mod tidy
  # Version ldflags as upstream hack/lib/version.sh sets them; without them
  # /version reports v0.0.0-master and helm's kubeVersion checks fail.
  local l="-X k8s.io/component-base/version.gitVersion=v$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  l="$l ${l//component-base\/version/client-go\/pkg\/version}"
  go build -trimpath -tags=notest -ldflags "-s -w $l" -o "$out/" "$@"
}

build_kubernetes() {
  build_kubernetes_cmds "$1" k8sbins k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}

build_kubernetes-node() {
  build_kubernetes_cmds "$1" k8snode k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
}

# A module with no replace directives of its own, built through a small
# wrapper like helm: `go install pkg@version` would also read the module's
# version list, which this machine's module proxy does not always serve.
build_go_tool() { # <out> <work name> <module> <version> <package> <binary> [ldflags]
  local out=$1 name=$2 mod=$3 ver=$4 pkg=$5 bin=$6 ldflags=${7:-} gm
  local work="$CACHE/build/$name-$ver"
  rm -rf "$work"; mkdir -p "$work"; cd "$work"
  go mod init "holdfast.local/$name" >/dev/null 2>&1
  gm=$(go mod download -json "$mod@v$ver" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  copy_go_directives "$gm"
  go get -tool "$pkg@v$ver"
  go mod tidy
  go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$bin" "$pkg"
}

build_coredns() {
  build_go_tool "$1" coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns coredns
}

build_crictl() {
  build_go_tool "$1" crictl sigs.k8s.io/cri-tools "$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl crictl \
    "-X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION"
}

build_kube-router() {
  build_go_tool "$1" kube-router github.com/cloudnativelabs/kube-router/v2 "$KUBE_ROUTER_VERSION" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router kube-router \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v$KUBE_ROUTER_VERSION"
}

# main.Version is what upstream's Makefile sets, so that `versitygw --version`
# names the release. Without cgo its plugin backend is Go's stub that refuses
# to load; the tests use the posix backend.
build_versitygw() {
  build_go_tool "$1" versitygw github.com/versity/versitygw "$VERSITYGW_VERSION" \
    github.com/versity/versitygw/cmd/versitygw versitygw \
    "-X main.Version=v$VERSITYGW_VERSION"
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

# CloudNativePG's operator (its `manager`, which is also the instance manager
# it copies into every PostgreSQL pod) and the release manifest its module
# ships. hack/images.sh makes the operator's image from it.
build_cloudnative-pg() {
  build_go_tool "$1" cloudnative-pg github.com/cloudnative-pg/cloudnative-pg "$CLOUDNATIVE_PG_VERSION" \
    github.com/cloudnative-pg/cloudnative-pg/cmd/manager manager \
    "-X github.com/cloudnative-pg/cloudnative-pg/pkg/versions.buildVersion=$CLOUDNATIVE_PG_VERSION"
  local dir
  dir=$(go mod download -json "github.com/cloudnative-pg/cloudnative-pg@v$CLOUDNATIVE_PG_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  cp "$dir/releases/cnpg-$CLOUDNATIVE_PG_VERSION.yaml" "$1/"
  chmod u+w "$1"/*.yaml
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
components=("$@"); [[ ${#components[@]} -gt 0 ]] || components=(etcd kubernetes kubernetes-node coredns crictl kube-router helm versitygw cert-manager-crds cloudnative-pg-crds cloudnative-pg)
for c in "${components[@]}"; do build "$c"; done
