# Shared by hack/up and hack/test: install what is missing, time phases.
# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export HOLDFAST_CACHE=${HOLDFAST_CACHE:-$HOME/.cache/holdfast}

# Debian packages the suite and the local control plane need, and the local
# node (hack/node.sh): containerd and runc run the pods, the CNI plugins wire
# them, iptables/nftables/conntrack/ipset/nfacct for kube-proxy, kube-router
# and the guard; debootstrap, gcc, jq and buildah build the images (hack/images.sh).
HOLDFAST_NODE_DEBS=(containerd runc containernetworking-plugins iptables nftables conntrack ipset nfacct
  debootstrap gcc libc6-dev jq buildah)
HOLDFAST_DEBS=(postgresql openssl curl ca-certificates "${HOLDFAST_NODE_DEBS[@]}")
# And for the suite: chromium drives the console's browser tests; age checks
# backup interop; LibreOffice Calc (headless) and unzip open the daily exports.
HOLDFAST_TEST_DEBS=("${HOLDFAST_DEBS[@]}" chromium fonts-dejavu-core age libreoffice-calc-nogui unzip)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_debs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm ci when node_modules does not match the committed lockfile.
ensure_node_modules() {
  local stamp="$ROOT/node_modules/.holdfast-lock-sha"
  local want; want=$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then return 0; fi
  say "npm ci"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

PHASES=()
# phase <name> <cmd...>: runs the command, records its wall time and result.
phase() {
  local name=$1 start rc=0; shift
  say "$name"
  start=$(date +%s%N)
  "$@" || rc=$?
  local ms=$(( ($(date +%s%N) - start) / 1000000 ))
  PHASES+=("$(printf '%-18s %5d.%01ds  %s' "$name" $((ms / 1000)) $((ms % 1000 / 100)) "$([[ $rc == 0 ]] && echo ok || echo "FAILED ($rc)")")")
  return $rc
}
print_phases() {
  say "phase times"
  printf '  %s\n' "${PHASES[@]}" >&2
}
