#!/usr/bin/env bash
# A real Kubernetes node on this machine, next to the control plane that
# hack/control-plane.sh started in DIR (with --node): Debian's containerd and
# runc, kubelet and kube-proxy of the pinned Kubernetes, CNI bridge networking,
# CoreDNS, kube-router's NetworkPolicy firewall, and a local volume provisioner
# for the StorageClass `holdfast-local`. Images come from hack/images.sh and are
# imported, never pulled. control-plane.sh calls this; it is rarely run alone.
#
#   hack/node.sh start DIR     needs root; one node per machine
#   hack/node.sh stop DIR      idempotent; also cleans up after a crashed run
#   hack/node.sh clean         stop whichever node this machine last started
#
# Nothing the node does leaves the machine: a guard (nftables table
# `inet holdfast-guard`) rejects pod and Service traffic headed anywhere but
# the pod bridge and this host, and drops connections from other machines to
# the ports the node opens; CoreDNS has no upstream; containerd's registry
# client is pointed at a dead proxy, so a missing image fails instead of
# pulling.
#
# stop leaves no process, mount, link, iptables/nftables rule, ipset, cgroup,
# host path or changed sysctl behind. What the machine looked like before is
# kept in /run/holdfast-node/ (not in DIR, so a deleted DIR can still be
# cleaned up).
set -euo pipefail
HACK=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HACK/.." && pwd)
# shellcheck source=versions.env
source "$HACK/versions.env"

NODE_NAME=holdfast-node
BRIDGE=hfcni0
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24 # the first /24 kube-controller-manager allocates
SERVICE_CIDR=10.0.0.0/24    # as hack/control-plane.sh
DNS_IP=10.0.0.10
GUARD=holdfast-guard
MACHINE=/run/holdfast-node # machine-wide: which DIR owns the node, and the state before it
CACHE=${HOLDFAST_CACHE:-$HOME/.cache/holdfast}
# containerd's content store outlives runs so images are imported once; it
# holds images only (every container is removed at stop).
CTRD_ROOT=$CACHE/node/containerd
# Paths containerd, libcni and the kubelet write whatever they are configured with.
HOST_PATHS=(/run/containerd /var/lib/cni /var/log/containers /var/log/pods /var/lib/kubelet)
# The sysctls the kubelet sets at start; written back once the node is Ready.
KUBELET_SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)

usage() { echo "usage: $0 start DIR | stop DIR | clean" >&2; exit 2; }
log() { printf '[node] %s\n' "$*" >&2; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

cmd=${1:-}; D=${2:-}
case $cmd in
  start | stop) [[ -n $D ]] || usage ;;
  clean) ;;
  *) usage ;;
esac
[[ $(id -u) == 0 ]] || { echo "hack/node.sh: a node needs root (containerd, mounts, iptables)" >&2; exit 1; }
if [[ -n $D ]]; then mkdir -p "$D"; D=$(cd "$D" && pwd); fi
N=$D/node

K8S_BIN=$("$HACK/build-tools.sh" --print-dir kubernetes)
NODE_BIN=$("$HACK/build-tools.sh" --print-dir kubernetes-node)
CRICTL=$("$HACK/build-tools.sh" --print-dir crictl)/crictl
KUBE_ROUTER=$("$HACK/build-tools.sh" --print-dir kube-router)/kube-router

# --- stop ------------------------------------------------------------------------

kill_recorded() { # <pids file> [names...]: TERM (KILL after 10 s) the recorded processes, all if no names
  local f=$1 pids=() pid name; shift
  [[ -f $f ]] || return 0
  while read -r name pid; do
    if [[ $# == 0 ]] || [[ " $* " == *" $name "* ]]; then pids+=("$pid"); fi
  done < <(tac "$f")
  [[ ${#pids[@]} -gt 0 ]] || return 0
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [[ $# == 0 ]]; then rm -f "$f"; else
    local keep; keep=$(awk -v names=" $* " 'index(names, " " $1 " ") == 0' "$f"); printf '%s\n' "$keep" | sed '/^$/d' >"$f"
  fi
}

ipt_cleanup() { # iptables and ip6tables: everything the node's components added
  local ipt table chain rule
  for ipt in iptables ip6tables; do
    for table in filter nat mangle raw; do
      "$ipt" -t "$table" -S >/dev/null 2>&1 || continue
      # Jumps from the built-in chains to ours first, then our chains.
      "$ipt" -t "$table" -S | grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) .*-j (KUBE-|CNI-)' |
        sed 's/^-A/-D/' | while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null || true; done
      for chain in $("$ipt" -t "$table" -S | sed -n 's/^-N \(KUBE-[^ ]*\|CNI-[^ ]*\)$/\1/p'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -t "$table" -S | sed -n 's/^-N \(KUBE-[^ ]*\|CNI-[^ ]*\)$/\1/p'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# Best effort, in a subshell without errexit: a grep that matches nothing
# must not end the cleanup halfway.
host_cleanup() ( # everything outside the node's processes; safe to repeat
  set +e +o pipefail
  local dir=$1 m p
  # kube-proxy's own cleanup, only once it has stopped (it would delete a
  # running kube-proxy's rules behind its back).
  [[ -x $NODE_BIN/kube-proxy ]] && "$NODE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  ipt_cleanup
  # kube-router's ipsets (its own --cleanup-config removes nothing).
  if command -v ipset >/dev/null; then
    for p in $(ipset list -n 2>/dev/null | grep -E '^(inet6:)?(KUBE-SRC-|KUBE-DST-|TMP-|KUBE-ROUTER-)' || true); do
      grep -qxF "$p" "$MACHINE/ipsets-before" 2>/dev/null || ipset destroy "$p" 2>/dev/null || true
    done
  fi
  nft delete table inet "$GUARD" 2>/dev/null || true
  nft delete table ip kube-proxy 2>/dev/null || true
  nft delete table ip6 kube-proxy 2>/dev/null || true
  if command -v nfacct >/dev/null; then
    nfacct delete ct_state_invalid_dropped_pkts 2>/dev/null || true
    nfacct delete localhost_nps_accepted_pkts 2>/dev/null || true
  fi
  # iptables-nft tables left empty that were not there before.
  local fam tbl
  while read -r _ fam tbl; do
    grep -qxF "table $fam $tbl" "$MACHINE/nft-tables-before" 2>/dev/null && continue
    if ! nft list table "$fam" "$tbl" 2>/dev/null | grep -vE '^\s*(table |chain |type |\}|$)' | grep -q .; then
      nft delete table "$fam" "$tbl" 2>/dev/null || true
    fi
  done < <(nft list tables 2>/dev/null)
  # Links: the bridge and any veth still on it.
  for p in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$p" 2>/dev/null || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
  if command -v conntrack >/dev/null; then
    for p in $POD_CIDR $SERVICE_CIDR; do
      conntrack -D -s "$p" >/dev/null 2>&1 || true
      conntrack -D -d "$p" >/dev/null 2>&1 || true
    done
  fi
  # Mounts under the node's folders, deepest first (the kubelet bind-mounts
  # its root dir onto itself because / is a private mount here).
  local roots=("$CTRD_ROOT" /run/containerd); [[ -n $dir ]] && roots+=("$dir")
  for _ in 1 2 3; do
    local mounts=()
    for p in "${roots[@]}"; do
      while read -r m; do mounts+=("$m"); done < <(awk '{print $2}' /proc/mounts | sed 's/\\040/ /g' | grep -E "^$p(/|$)" || true)
    done
    [[ ${#mounts[@]} -gt 0 ]] || break
    printf '%s\n' "${mounts[@]}" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2- |
      while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
  # The kubelet's pod cgroups, in every hierarchy, deepest first.
  for p in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do
    [[ -d $p ]] && find "$p" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # Host paths the run created.
  for p in "${HOST_PATHS[@]}"; do
    if [[ -e $p ]] && ! grep -qxF "$p" "$MACHINE/host-paths-before" 2>/dev/null && [[ -f $MACHINE/host-paths-before ]]; then
      rm -rf "$p"
    fi
  done
  # Sysctls: every key that changed, back to its value before the run (keys
  # of links that came and went are not in both snapshots).
  # Twice: writing net.ipv4.ip_forward also rewrites conf.*.forwarding and
  # conf.all.accept_redirects.
  local pass
  for pass in 1 2; do [[ -f $MACHINE/sysctl-before ]] || break
    sysctl -a 2>/dev/null >"$MACHINE/sysctl-now" || true
    awk -F' = ' 'NR == FNR { now[$1] = substr($0, length($1) + 4); next }
      $1 ~ /^(kernel\.random\.|kernel\.ns_last_pid|kernel\.pty\.nr|fs\.|net\.netfilter\.nf_conntrack_count|vm\.stat)/ { next }
      ($1 in now) && now[$1] != substr($0, length($1) + 4) { print $1 "=" substr($0, length($1) + 4) }' \
      "$MACHINE/sysctl-now" "$MACHINE/sysctl-before" | while IFS= read -r kv; do sysctl -qw "$kv" 2>/dev/null || true; done
    rm -f "$MACHINE/sysctl-now"
  done
)

stop_node() { # <dir or empty>
  local dir=$1 n start
  start=$(date +%s%N)
  n=${dir:+$dir/node}
  if [[ -n $n && -f $n/pids ]]; then
    # The firewall and the provisioner first so nothing re-adds rules, then
    # the kubelet and kube-proxy; containerd stays up to remove the pods.
    kill_recorded "$n/pids" kube-router local-volumes kubelet kube-proxy
    if [[ -S $n/containerd/containerd.sock ]]; then
      timeout 60 "$CRICTL" --runtime-endpoint "unix://$n/containerd/containerd.sock" --timeout 20s rmp -fa >/dev/null 2>&1 || true
      local t
      for t in $(ctr --address "$n/containerd/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null || true); do
        ctr --address "$n/containerd/containerd.sock" -n k8s.io tasks kill -s KILL "$t" 2>/dev/null || true
      done
    fi
    kill_recorded "$n/pids"
  fi
  # Shims of this node's containerd outlive it when it died first.
  local pid
  if [[ -n $n ]]; then
    for pid in $(pgrep -f containerd-shim-runc-v2 2>/dev/null || true); do
      if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-address $n/containerd/containerd.sock"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
  fi
  # The machine-wide state belongs to whichever node started last: never
  # clean up under another directory's running node.
  if [[ -f $MACHINE/owner && -n $dir && $(cat "$MACHINE/owner") != "$dir" ]]; then
    log "the machine's node belongs to $(cat "$MACHINE/owner"); left it alone"
    return 0
  fi
  host_cleanup "$dir"
  rm -rf "$MACHINE"
  log "stopped in $(ms_since "$start") ms"
}

if [[ $cmd == stop ]]; then stop_node "$D"; exit 0; fi
if [[ $cmd == clean ]]; then
  if [[ -f $MACHINE/owner ]]; then stop_node "$(cat "$MACHINE/owner")"; else log "no node recorded on this machine"; fi
  exit 0
fi

# --- start -------------------------------------------------------------------------
T0=$(date +%s%N)
cd "$ROOT" # node --import tsx resolves tsx from here
[[ -f $D/env ]] || { echo "hack/node.sh: no control plane in $D (start it with hack/control-plane.sh start $D --controllers --node)" >&2; exit 1; }
# shellcheck disable=SC1091
source "$D/env"
AP=${HOLDFAST_APISERVER##*:}
KUBECTL=("$K8S_BIN/kubectl" --kubeconfig "$D/kubeconfig" --cache-dir "$D/kube-cache")

# One node per machine: the bridge, the CIDRs, the kubepods cgroups and
# kube-proxy's chains are machine-wide. A node whose processes are gone
# (a crashed run) is cleaned up first.
if [[ -f $MACHINE/owner ]]; then
  prev=$(cat "$MACHINE/owner")
  if [[ $prev != "$D" ]] && [[ -f $prev/node/pids ]] && awk '{print $2}' "$prev/node/pids" | while read -r p; do kill -0 "$p" 2>/dev/null && echo alive; done | grep -q alive; then
    echo "hack/node.sh: a node from $prev is running on this machine; stop it first: hack/control-plane.sh stop $prev" >&2
    exit 1
  fi
  log "cleaning up after an earlier node that did not stop ($prev)"
  stop_node "$prev"
fi
[[ ! -f $N/pids ]] || { echo "hack/node.sh: a node is already running in $D" >&2; exit 1; }

for c in containerd runc iptables nft conntrack ipset; do
  command -v "$c" >/dev/null || { echo "hack/node.sh: $c is missing (hack/lib.sh's ensure_debs installs it)" >&2; exit 1; }
done
"$HACK/build-tools.sh" kubernetes-node crictl kube-router >&2

NODE_IP=$(ip -4 -o addr show dev "$(ip -4 route show default | awk '{print $5; exit}')" 2>/dev/null | awk '{print $4; exit}' | cut -d/ -f1)
[[ -n $NODE_IP ]] || { echo "hack/node.sh: the node needs an IPv4 address on the default-route interface" >&2; exit 1; }
IFACE=$(ip -4 route show default | awk '{print $5; exit}')

# What the machine looks like before the node touches it.
rm -rf "$MACHINE"; mkdir -p "$MACHINE"
echo "$D" >"$MACHINE/owner"
sysctl -a 2>/dev/null >"$MACHINE/sysctl-before" || true
for p in "${HOST_PATHS[@]}"; do [[ -e $p ]] && echo "$p"; done >"$MACHINE/host-paths-before" || true
nft list tables >"$MACHINE/nft-tables-before" 2>/dev/null || true
ipset list -n >"$MACHINE/ipsets-before" 2>/dev/null || true

rm -rf "$N"; mkdir -p "$N"/{pki,containerd,cni/net.d,cni/ipam,kubelet,pod-logs,volumes,volume-plugins}
: >"$N/pids"

free_ports() { # <n>
  node -e '
    const net = require("node:net"); const n = Number(process.argv[1]); const servers = [];
    (async () => {
      for (let i = 0; i < n; i++) { const s = net.createServer(); servers.push(s); await new Promise((ok) => s.listen(0, "0.0.0.0", ok)); }
      console.log(servers.map((s) => s.address().port).join(" ")); for (const s of servers) s.close();
    })();' "$1"
}
read -r KUBELET_PORT KUBELET_HEALTH PROXY_HEALTH PROXY_METRICS ROUTER_HEALTH <<<"$(free_ports 5)"

fail() { # <message> <log name>
  echo "hack/node.sh: $1; last lines of $N/$2.log:" >&2
  tail -20 "$N/$2.log" >&2
  exit 1
}
launch() { # <name> <cmd...>
  local name=$1; shift
  setsid "$@" >"$N/$name.log" 2>&1 </dev/null &
  echo "$name $!" >>"$N/pids"
}
wait_for() { # <name> <seconds> <probe...>
  local name=$1 secs=$2 pid; shift 2
  pid=$(awk -v n="$name" '$1==n{print $2}' "$N/pids")
  for _ in $(seq $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || fail "$name exited" "$name"
    sleep 0.1
  done
  fail "$name not ready after ${secs}s" "$name"
}
# From here on a failure stops what was started, so a failed start leaves nothing.
trap 'rc=$?; if [[ $rc != 0 ]]; then stop_node "$D"; fi' EXIT

# --- credentials: client certificates from the control plane's CA -------------------
sign() { # <name> <subject>
  openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$N/pki/$1.key" -out "$N/pki/$1.csr" 2>/dev/null
  openssl x509 -req -in "$N/pki/$1.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAserial "$N/pki/$1.srl" -CAcreateserial \
    -days 3650 -out "$N/pki/$1.crt" 2>/dev/null
  rm -f "$N/pki/$1.csr"
}
kubeconfig() { # <name>
  cat >"$N/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: holdfast-local
  cluster: {server: "https://127.0.0.1:$AP", certificate-authority: "$D/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$N/pki/$1.crt", client-key: "$N/pki/$1.key"}
contexts:
- name: holdfast-local
  context: {cluster: holdfast-local, user: $1}
current-context: holdfast-local
EOF
}
sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" & # the Node authorizer's identity
sign kube-proxy "/CN=system:kube-proxy" &                 # bound to system:node-proxier by default
sign kube-router "/CN=holdfast:kube-router" &
wait
for c in kubelet kube-proxy kube-router; do kubeconfig "$c"; done

# --- the guard: nothing from pods or Services leaves the machine -------------------
# Its own table and base chains at priority filter - 5: kube-router ACCEPTs
# allowed pod traffic first thing in iptables' FORWARD and OUTPUT, which would
# skip a guard chain there; an accept in one table never skips another's base
# chain. Services are DNATed before these hooks, so a packet still addressed
# to the Service range has no endpoint (yet) and would go to the default gateway.
nft -f - <<EOF
table inet $GUARD {
  chain forward {
    type filter hook forward priority filter - 5; policy accept;
    oifname "$BRIDGE" return
    ip daddr $SERVICE_CIDR reject
    iifname "$BRIDGE" reject
  }
  # At the output hook the interface is the one routed before kube-proxy's
  # DNAT, so a host connection to a Service shows eth0 with a pod address:
  # only the Service range is checked here.
  chain output {
    type filter hook output priority filter - 5; policy accept;
    oifname { "lo", "$BRIDGE" } return
    ip daddr $SERVICE_CIDR reject
  }
  chain input {
    type filter hook input priority filter - 5; policy accept;
    iifname { "lo", "$BRIDGE" } return
    tcp dport { $AP, $KUBELET_PORT, $ROUTER_HEALTH, 30000-32767 } drop
    udp dport 30000-32767 drop
  }
}
EOF

# --- containerd ----------------------------------------------------------------------
cat >"$N/containerd/config.toml" <<EOF
version = 2
root = "$CTRD_ROOT"
state = "$N/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$N/containerd/containerd.sock"
[ttrpc]
  address = "$N/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:$PAUSE_VERSION"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot give the sandbox the
  # negative oom_score_adj the kubelet asks for ("can't get final child's PID
  # from pipe: EOF"). This clamps it to containerd's own.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "$N/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$N/cni/net.d"
EOF
cat >"$N/cni/net.d/10-holdfast.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "holdfast",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$N/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
mkdir -p "$CTRD_ROOT"
# A pull would go to a registry on the internet: the dead proxy makes it fail at once.
launch containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
  containerd --config "$N/containerd/config.toml"
CTR=(ctr --address "$N/containerd/containerd.sock" -n k8s.io)
wait_for containerd 30 "${CTR[@]}" version
T_CONTAINERD=$(ms_since "$T0")
# Sandboxes a crashed run left in the persistent store would come back.
"$CRICTL" --runtime-endpoint "unix://$N/containerd/containerd.sock" rmp -fa >/dev/null 2>&1 || true

# Images: imported once into the persistent store, keyed by their tarball.
T=$(date +%s%N)
while read -r ref tar; do
  stamp="$CTRD_ROOT/imported/$(basename "$tar")"
  if [[ -f $stamp ]] && "${CTR[@]}" images ls -q | grep -qxF "$ref"; then continue; fi
  "${CTR[@]}" images import "$tar" >/dev/null
  [[ $ref != localhost/pause:* ]] || "${CTR[@]}" images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
  mkdir -p "$CTRD_ROOT/imported"; rm -f "$CTRD_ROOT/imported/${tar##*/}"; touch "$stamp"
done < <("$HACK/images.sh")
T_IMAGES=$(ms_since "$T")

# --- kubelet -------------------------------------------------------------------------
: >"$N/resolv.conf" # pods get the cluster DNS and nothing of the host's resolver
cat >"$N/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTH
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$D/ca.crt"}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$N/containerd/containerd.sock
cgroupDriver: cgroupfs
failSwapOn: false
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: $N/resolv.conf
podLogsDir: $N/pod-logs
volumePluginDir: $N/volume-plugins
serializeImagePulls: false
# A test machine's disk is shared: evict only when it is really full, and
# never collect the imported images (they cannot be pulled back).
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# The node CIDR is a /24: room for as many pods as it has addresses.
maxPods: 250
EOF
launch kubelet "$NODE_BIN/kubelet" --config="$N/kubelet.yaml" --kubeconfig="$N/kubelet.kubeconfig" \
  --root-dir="$N/kubelet" --cert-dir="$N/pki/kubelet-serving" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1
node_ready() {
  [[ $("${KUBECTL[@]}" get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}
wait_for kubelet 60 node_ready
# The kubelet sets these at start; the machine is not ours to reconfigure.
for k in "${KUBELET_SYSCTLS[@]}"; do
  v=$(grep -m1 "^$k = " "$MACHINE/sysctl-before" | sed 's/^[^=]* = //')
  [[ -n $v ]] && sysctl -qw "$k=$v"
done
T_KUBELET=$(ms_since "$T0")

# --- kube-proxy ----------------------------------------------------------------------
cat >"$N/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$N/kube-proxy.kubeconfig"}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$PROXY_HEALTH
metricsBindAddress: 127.0.0.1:$PROXY_METRICS
nodePortAddresses: ["$NODE_IP/32"]
# Leave the machine's conntrack settings and route_localnet alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false, minSyncPeriod: 0s, syncPeriod: 30s}
EOF
launch kube-proxy "$NODE_BIN/kube-proxy" --config="$N/kube-proxy.yaml" --v=1
wait_for kube-proxy 30 curl -fsS "http://127.0.0.1:$PROXY_HEALTH/healthz"

# --- cluster add-ons: kube-router's and CoreDNS's RBAC, CoreDNS ------------------------
"${KUBECTL[@]}" apply --server-side --field-manager=holdfast-node -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "holdfast:kube-router"}
rules:
# Read-only: it reads its Node for the node IP, and caches services and
# endpoints even with its proxy off (without them it never syncs and exits).
- {apiGroups: [""], resources: [nodes], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [pods, namespaces, services, endpoints], verbs: [list, watch]}
- {apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "holdfast:kube-router"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "holdfast:kube-router"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "holdfast:kube-router"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  # No forward plugin: names outside the cluster get SERVFAIL, never an
  # upstream query.
  Corefile: |
    .:53 {
        errors
        health 127.0.0.1:8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 30
        loop
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      # Port 53 as non-root, with no capability: NetworkPolicies see the
      # pod's port, and workloads' DNS allow rules name 53, as on real clusters.
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
        sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "0"}]
      containers:
      - name: coredns
        image: localhost/coredns:$COREDNS_VERSION
        imagePullPolicy: IfNotPresent
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 128Mi}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, targetPort: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: 53, protocol: TCP}
EOF

# --- kube-router: NetworkPolicy, enforced on the host ---------------------------------
# Only its firewall controller. --health-port binds every address (no flag
# for one), which the guard's input chain closes to other machines.
launch kube-router "$KUBE_ROUTER" --kubeconfig="$N/kube-router.kubeconfig" --hostname-override="$NODE_NAME" \
  --run-firewall=true --run-router=false --run-service-proxy=false \
  --service-cluster-ip-range="$SERVICE_CIDR" --enable-ipv4=true --enable-ipv6=false \
  --health-port="$ROUTER_HEALTH" --metrics-port=0 --iptables-sync-period=5m --cache-sync-timeout=30s --v=1
wait_for kube-router 30 curl -fsS "http://127.0.0.1:$ROUTER_HEALTH/healthz"

# --- volumes: the holdfast-local StorageClass --------------------------------------
"${KUBECTL[@]}" apply --server-side --field-manager=holdfast-node -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: holdfast-local
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
    # A folder on this machine's disk: not encrypted, and it says so.
    holdfast.io/encrypted: "false"
provisioner: holdfast.io/local-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
EOF
launch local-volumes env KUBECONFIG="$D/kubeconfig" node --import tsx "$HACK/local-volumes.ts" \
  --node "$NODE_NAME" --dir "$N/volumes"
wait_for local-volumes 30 test -f "$N/volumes/.ready"

wait_for kubelet 60 bash -c "[[ \$(${KUBECTL[*]} -n kube-system get deploy coredns -o jsonpath='{.status.availableReplicas}') == 1 ]]"

cat >>"$D/env" <<EOF
HOLDFAST_NODE=$NODE_NAME
HOLDFAST_NODE_IP=$NODE_IP
HOLDFAST_NODE_DIR=$N
HOLDFAST_CONTAINERD=$N/containerd/containerd.sock
EOF
trap - EXIT
log "up in $(ms_since "$T0") ms (containerd $T_CONTAINERD ms, images $T_IMAGES ms, node Ready at $T_KUBELET ms)"
