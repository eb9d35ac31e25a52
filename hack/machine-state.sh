#!/usr/bin/env bash
# Prints what a local node changes on this machine, normalised so that two
# snapshots compare with diff: hack/test takes one before the integration
# tests and one after the node has stopped; any difference is something the
# node left behind.
#
#   hack/machine-state.sh > before; ...; hack/machine-state.sh | diff before -
set -uo pipefail
section() { printf '## %s\n' "$1"; }

section processes
# Every program the node starts, by its executable (never by a pattern that
# could match a shell or an editor).
for p in /proc/[0-9]*; do
  exe=$(readlink "$p/exe" 2>/dev/null) || continue
  case ${exe##*/} in
    containerd | containerd-shim* | kubelet | kube-proxy | kube-router | coredns | pause | runc) echo "${exe##*/} ${p#/proc/}" ;;
  esac
done | sort
section mounts
awk '$2 ~ /(kubelet|containerd|holdfast|netns|cni)/ {print $1, $2, $3}' /proc/mounts | sort
section links
ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort
section addresses
ip -o -4 addr show | awk '{print $2, $4}' | sort
section routes
ip -4 route show | sort
section nftables
nft list ruleset 2>/dev/null
section iptables
for t in filter nat mangle raw; do iptables -t "$t" -S 2>/dev/null | sed "s/^/$t /"; done
for t in filter nat mangle raw; do ip6tables -t "$t" -S 2>/dev/null | sed "s/^/${t}6 /"; done
section ipsets
ipset list -n 2>/dev/null | sort
section nfacct
nfacct list 2>/dev/null | sed 's/pkts = [0-9]*/pkts/; s/bytes = [0-9]*/bytes/' | sort
section cgroups
find /sys/fs/cgroup -maxdepth 2 -type d \( -name kubepods -o -name 'kubepods*' -o -name holdfast \) 2>/dev/null | sort
section host-paths
for p in /run/containerd /run/holdfast-node /var/lib/cni /var/log/containers /var/log/pods /var/lib/kubelet /etc/cni /opt/cni /var/lib/containerd; do
  [[ -e $p ]] && echo "$p"
done
section sysctls
sysctl -a 2>/dev/null | grep -E '^(net\.ipv4\.(ip_forward|conf\.(all|default|lo|eth0)\.)|net\.bridge\.|net\.netfilter\.nf_conntrack_(max|tcp_timeout_established|tcp_timeout_close_wait)|vm\.overcommit_memory|kernel\.panic|kernel\.keys\.)' | sort
section conntrack
conntrack -L 2>/dev/null | grep -cE 'src=10\.(244|0\.0)\.' || true
