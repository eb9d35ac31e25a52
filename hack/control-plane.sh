#!/usr/bin/env bash
# A real Kubernetes control plane on loopback: etcd + kube-apiserver, plus
# kube-controller-manager and kube-scheduler with --controllers, built by
# hack/build-tools.sh. With --node (implies --controllers; needs root) a real
# node runs pods next to it: hack/node.sh. Used by hack/up and by the test
# harness.
#
#   hack/control-plane.sh start DIR [--controllers] [--node] [--owner-pid PID]
#   hack/control-plane.sh stop DIR
#   hack/control-plane.sh crash DIR NAME...     (SIGKILL etcd, kube-apiserver, ...)
#   hack/control-plane.sh restart DIR NAME...   (start them again, as they ran)
#
# start writes into DIR: kubeconfig (admin, system:masters), ca.crt/ca.key,
# env (KUBECONFIG, ports, pids), one log per component, and pids (the
# processes it started, nothing else). With --owner-pid, a watchdog stops the
# control plane when that process exits, so a crashed test run leaves nothing
# behind. stop ends exactly the processes listed in DIR/pids.
set -euo pipefail
HACK=$(cd "$(dirname "$0")" && pwd)

usage() { echo "usage: $0 start DIR [--controllers] [--node] [--owner-pid PID] | stop DIR | crash|restart DIR NAME..." >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd=$1 D=$2; shift 2

stop() {
  # The node first, while the apiserver still answers; its host state
  # (mounts, firewall, links) is cleaned even when its processes are gone.
  if [[ -d $D/node ]]; then "$HACK/node.sh" stop "$D" || true; fi
  [[ -f $D/pids ]] || return 0
  local pids pid
  pids=$(awk '{print $2}' "$D/pids" | tac)
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$D/pids"
}

if [[ $cmd == stop ]]; then stop; exit 0; fi

# For chaos tests: crash kills components as a failure would (their command
# lines kept in DIR/NAME.argv); restart starts them again with the same ports,
# certificates and etcd data, in the order given, each once it answers.
if [[ $cmd == crash ]]; then
  for name in "$@"; do
    pid=$(awk -v n="$name" '$1==n{print $2}' "$D/pids")
    [[ -n $pid ]] || { echo "control plane: no $name in $D/pids" >&2; exit 1; }
    cp "/proc/$pid/cmdline" "$D/$name.argv"
    kill -KILL "$pid"
    while grep -qs '^State:[[:space:]]*[^Z]' "/proc/$pid/status"; do sleep 0.1; done
  done
  exit 0
fi
if [[ $cmd == restart ]]; then
  set -a; . "$D/env"; set +a
  for name in "$@"; do
    mapfile -d '' argv <"$D/$name.argv"
    setsid "${argv[@]}" >>"$D/$name.log" 2>&1 </dev/null &
    sed -i "s/^$name .*/$name $!/" "$D/pids"
    case $name in
      etcd) probe=(curl -fsS "$HOLDFAST_ETCD/health") ;;
      kube-apiserver) probe=(curl -fsS --cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" "$HOLDFAST_APISERVER/readyz") ;;
      *) probe=(true) ;;
    esac
    for _ in $(seq 900); do "${probe[@]}" >/dev/null 2>&1 && break; sleep 0.1; done
    "${probe[@]}" >/dev/null 2>&1 || { echo "control plane: $name did not come back; see $D/$name.log" >&2; exit 1; }
  done
  exit 0
fi
[[ $cmd == start ]] || usage

controllers=0 node=0 owner=
while [[ $# -gt 0 ]]; do
  case $1 in
    --controllers) controllers=1 ;;
    --node) node=1 controllers=1 ;;
    --owner-pid) owner=$2; shift ;;
    *) usage ;;
  esac
  shift
done

"$HACK/build-tools.sh" etcd kubernetes >&2
ETCD_BIN=$("$HACK/build-tools.sh" --print-dir etcd)
K8S_BIN=$("$HACK/build-tools.sh" --print-dir kubernetes)

mkdir -p "$D"; D=$(cd "$D" && pwd)
# Idempotent: a control plane already running here (every process it listed
# alive, and its node when asked for) is kept, with the watchdog of the
# owner that started it; what a crash or an interrupted start left is
# stopped and started again.
if [[ -s $D/pids && -f $D/kubeconfig ]]; then
  alive=1
  # A killed process whose parent is gone can stay a zombie here: alive, not running.
  for pid in $(awk '{print $2}' "$D/pids"); do
    grep -qs '^State:[[:space:]]*[^Z]' "/proc/$pid/status" || alive=0
  done
  [[ $node == 0 || -f $D/node/pids ]] || alive=0
  if [[ $alive == 1 ]]; then
    echo "control plane already running in $D" >&2
    echo "$D/kubeconfig"
    exit 0
  fi
fi
stop
: >"$D/pids"
# Before anything starts: an owner that dies while this is still starting
# (Ctrl-C in hack/up) leaves nothing running either.
if [[ -n $owner ]]; then
  # The watchdog is not in pids: it ends itself after stopping the rest.
  setsid bash -c 'while kill -0 "$1" 2>/dev/null && [[ -f "$2/pids" ]]; do sleep 1; done; [[ -f "$2/pids" ]] && exec "$3" stop "$2"' \
    watchdog "$owner" "$D" "$HACK/control-plane.sh" >/dev/null 2>&1 </dev/null &
fi

free_ports() { # <n>: n distinct free loopback ports
  node -e '
    const net = require("node:net");
    const n = Number(process.argv[1]); const servers = [];
    (async () => {
      for (let i = 0; i < n; i++) {
        const s = net.createServer(); servers.push(s);
        await new Promise((ok) => s.listen(0, "127.0.0.1", ok));
      }
      console.log(servers.map((s) => s.address().port).join(" "));
      for (const s of servers) s.close();
    })();' "$1"
}
read -r EP PP AP CP SP <<<"$(free_ports 5)"

# With a node, pods reach the apiserver through the `kubernetes` Service, whose
# endpoint must be a real address of the machine (EndpointSlices refuse
# 127.0.0.0/8): the node's address on the default-route interface.
BIND=127.0.0.1 ADVERTISE=127.0.0.1 NODE_SANS=
if [[ $node == 1 ]]; then
  ADVERTISE=$(ip -4 -o addr show dev "$(ip -4 route show default | awk '{print $5; exit}')" 2>/dev/null | awk '{print $4; exit}' | cut -d/ -f1)
  [[ -n $ADVERTISE ]] || { echo "control plane: --node needs an IPv4 address on the default-route interface" >&2; exit 1; }
  # 0.0.0.0 so the node's address answers too; hack/node.sh's guard drops
  # connections to this port from other machines.
  BIND=0.0.0.0 NODE_SANS=",IP:$ADVERTISE,DNS:kubernetes.default.svc.cluster.local"
fi

# --- certificates -----------------------------------------------------------
pki() {
  cd "$D"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=holdfast-test-ca" \
    -keyout ca.key -out ca.crt 2>/dev/null
  sign() { # <name> <subject> [ext]
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    if [[ -n ${3:-} ]]; then
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -out "$1.crt" -extfile <(printf '%s' "$3") 2>/dev/null
    else
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -out "$1.crt" 2>/dev/null
    fi
    rm -f "$1.csr"
  }
  sign apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc$NODE_SANS"
  sign admin "/O=system:masters/CN=admin"
  sign kcm "/CN=system:kube-controller-manager"
  sign scheduler "/CN=system:kube-scheduler"
  # For `kubectl logs` and `exec`: the apiserver's client identity at the kubelet.
  sign kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
}
pki

kubeconfig() { # <file> <cert-name> <user>
  cat >"$D/$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: holdfast-local
  cluster:
    server: https://127.0.0.1:$AP
    certificate-authority: $D/ca.crt
users:
- name: $3
  user:
    client-certificate: $D/$2.crt
    client-key: $D/$2.key
contexts:
- name: holdfast-local
  context: {cluster: holdfast-local, user: $3}
current-context: holdfast-local
EOF
}
kubeconfig kubeconfig admin admin
kubeconfig kcm.kubeconfig kcm system:kube-controller-manager
kubeconfig scheduler.kubeconfig scheduler system:kube-scheduler

launch() { # <name> <cmd...>: detached, own process group, pid recorded
  local name=$1; shift
  setsid "$@" >"$D/$name.log" 2>&1 </dev/null &
  echo "$name $!" >>"$D/pids"
}
fail() {
  echo "control plane: $1; last lines of $D/$2.log:" >&2
  tail -15 "$D/$2.log" >&2
  stop; exit 1
}
wait_for() { # <name> <seconds> <probe...>
  local name=$1 secs=$2; shift 2
  local pid; pid=$(awk -v n="$name" '$1==n{print $2}' "$D/pids")
  for _ in $(seq $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || fail "$name exited" "$name"
    sleep 0.1
  done
  fail "$name not ready after ${secs}s" "$name"
}

# --- etcd --------------------------------------------------------------------
# --unsafe-no-fsync: test data only; it makes etcd an order of magnitude faster
# on a shared disk.
launch etcd "$ETCD_BIN/etcd" --name default --data-dir "$D/etcd" \
  --listen-client-urls "http://127.0.0.1:$EP" --advertise-client-urls "http://127.0.0.1:$EP" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "default=http://127.0.0.1:$PP" --unsafe-no-fsync --log-level warn
wait_for etcd 30 curl -fsS "http://127.0.0.1:$EP/health"

# --- kube-apiserver -------------------------------------------------------------
# Flags: controller-runtime envtest's defaults plus --advertise-address (the
# apiserver exits on machines without a default route otherwise). For a node:
# `kubectl logs`/`exec` reach the kubelet by its InternalIP with their own
# client certificate; the node's name is in no DNS, and looking it up would
# query the machine's resolver.
launch kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$EP" --bind-address="$BIND" --advertise-address="$ADVERTISE" \
  --secure-port="$AP" --cert-dir="$D" --tls-cert-file="$D/apiserver.crt" --tls-private-key-file="$D/apiserver.key" \
  --client-ca-file="$D/ca.crt" --authorization-mode=Node,RBAC --service-cluster-ip-range=10.0.0.0/24 \
  --service-account-issuer="https://127.0.0.1:$AP" --service-account-key-file="$D/sa.pub" \
  --service-account-signing-key-file="$D/sa.key" --allow-privileged=false \
  --kubelet-client-certificate="$D/kubelet-client.crt" --kubelet-client-key="$D/kubelet-client.key" \
  --enable-admission-plugins=NodeRestriction --kubelet-preferred-address-types=InternalIP --v=1
probe_api() { curl -fsS --cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" "https://127.0.0.1:$AP$1"; }
wait_for kube-apiserver 90 probe_api /readyz

if [[ $controllers == 1 ]]; then
  launch kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$D/kcm.kubeconfig" --authentication-kubeconfig="$D/kcm.kubeconfig" \
    --authorization-kubeconfig="$D/kcm.kubeconfig" --bind-address=127.0.0.1 --secure-port="$CP" \
    --leader-elect=false --use-service-account-credentials --controllers='*' \
    --service-account-private-key-file="$D/sa.key" --root-ca-file="$D/ca.crt" \
    --cluster-signing-cert-file="$D/ca.crt" --cluster-signing-key-file="$D/ca.key" \
    --service-cluster-ip-range=10.0.0.0/24 $([[ $node == 1 ]] && echo --allocate-node-cidrs --cluster-cidr=10.244.0.0/16 --node-cidr-mask-size=24) --v=1
  cat >"$D/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $D/scheduler.kubeconfig
leaderElection:
  leaderElect: false
EOF
  launch kube-scheduler "$K8S_BIN/kube-scheduler" --config="$D/scheduler.yaml" \
    --authentication-kubeconfig="$D/scheduler.kubeconfig" --authorization-kubeconfig="$D/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SP" --v=1
  # The controller manager is working once it has made the default ServiceAccount.
  wait_for kube-controller-manager 60 probe_api /api/v1/namespaces/default/serviceaccounts/default
  wait_for kube-scheduler 30 curl -fsSk "https://127.0.0.1:$SP/healthz"
fi

cat >"$D/env" <<EOF
KUBECONFIG=$D/kubeconfig
HOLDFAST_APISERVER=https://127.0.0.1:$AP
HOLDFAST_ETCD=http://127.0.0.1:$EP
HOLDFAST_CONTROL_PLANE_DIR=$D
HOLDFAST_CONTROLLERS=$controllers
EOF

if [[ $node == 1 ]]; then
  "$HACK/node.sh" start "$D" || { stop; exit 1; }
fi

echo "$D/kubeconfig"
