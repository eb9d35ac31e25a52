// A small evaluator of Kubernetes NetworkPolicy semantics (networking.k8s.io/v1),
// for tests that check the policies the operator wrote into the apiserver
// against the pods each mode runs, before a node enforces them for real.
// It follows the API reference: a pod is isolated for a direction when a
// policy of its namespace selects it with that policy type; then only what
// some rule of those policies allows passes; a connection needs the sender's
// egress and the receiver's ingress. Packets are seen after kube-proxy's DNAT
// (the peer is the pod or address behind a Service, and its real port).
import { BlockList, isIP } from 'node:net';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface Rule {
  from?: PolicyPeer[];
  to?: PolicyPeer[];
  ports?: PolicyPort[];
}
export interface NetworkPolicy {
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: ('Ingress' | 'Egress')[];
    ingress?: Rule[];
    egress?: Rule[];
  };
}

/** A pod (namespace, labels, IP, named container ports) or, without namespace, an address outside the cluster's pods. */
export interface Endpoint {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  ip?: string;
  namedPorts?: Record<string, number>;
}

export interface Cluster {
  policies: NetworkPolicy[];
  /** Labels of every namespace, by name. */
  namespaces: Record<string, Record<string, string>>;
}

export function selects(selector: LabelSelector, labels: Record<string, string> = {}): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(labels[e.key]!)
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(labels[e.key]!)
          : e.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const family = isIP(net!) === 6 ? 'ipv6' : 'ipv4';
  if (isIP(ip) !== isIP(net!)) return false;
  const list = new BlockList();
  list.addSubnet(net!, Number(bits), family);
  return list.check(ip, family);
}

/** Does a rule's peer (of a policy in `policyNamespace`) match the other end? */
function peerMatches(peer: PolicyPeer, other: Endpoint, policyNamespace: string, cluster: Cluster): boolean {
  if (peer.ipBlock) {
    if (!other.ip || !inCidr(other.ip, peer.ipBlock.cidr)) return false;
    return !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip!, c));
  }
  if (other.namespace === undefined) return false; // selectors match pods only
  if (peer.namespaceSelector) {
    if (!selects(peer.namespaceSelector, cluster.namespaces[other.namespace] ?? {})) return false;
  } else if (other.namespace !== policyNamespace) {
    return false;
  }
  return peer.podSelector ? selects(peer.podSelector, other.labels) : true;
}

function portMatches(rulePort: PolicyPort, port: number, protocol: string, destination: Endpoint): boolean {
  if ((rulePort.protocol ?? 'TCP') !== protocol) return false;
  if (rulePort.port === undefined) return true;
  const number = typeof rulePort.port === 'number' ? rulePort.port : destination.namedPorts?.[rulePort.port];
  if (number === undefined) return false;
  return rulePort.endPort !== undefined && typeof rulePort.port === 'number'
    ? port >= number && port <= rulePort.endPort
    : port === number;
}

function typesOf(p: NetworkPolicy): ('Ingress' | 'Egress')[] {
  return p.spec.policyTypes ?? (p.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
}

/** Whether `pod` may send (Egress) to, or receive (Ingress) from, `other` on port/protocol of `destination`. */
function direction(
  kind: 'Ingress' | 'Egress',
  pod: Endpoint,
  other: Endpoint,
  destination: Endpoint,
  port: number,
  protocol: string,
  cluster: Cluster,
): { allowed: boolean; by: string[] } {
  if (pod.namespace === undefined) return { allowed: true, by: [] };
  const applying = cluster.policies.filter(
    (p) =>
      (p.metadata.namespace ?? '') === pod.namespace &&
      typesOf(p).includes(kind) &&
      selects(p.spec.podSelector, pod.labels),
  );
  if (applying.length === 0) return { allowed: true, by: [] };
  const by = applying
    .filter((p) =>
      (kind === 'Ingress' ? (p.spec.ingress ?? []) : (p.spec.egress ?? [])).some((rule) => {
        const peers = kind === 'Ingress' ? rule.from : rule.to;
        const peerOk =
          !peers || peers.length === 0 || peers.some((x) => peerMatches(x, other, pod.namespace!, cluster));
        const portOk =
          !rule.ports || rule.ports.length === 0 || rule.ports.some((x) => portMatches(x, port, protocol, destination));
        return peerOk && portOk;
      }),
    )
    .map((p) => p.metadata.name);
  return { allowed: by.length > 0, by };
}

export interface Verdict {
  allowed: boolean;
  /** Why, for test messages: which side refused, or which policies allowed. */
  reason: string;
}

/** Whether a connection from `from` to `to` on `port` is allowed by the cluster's policies. */
export function connection(
  cluster: Cluster,
  from: Endpoint,
  to: Endpoint,
  port: number,
  protocol: 'TCP' | 'UDP' = 'TCP',
): Verdict {
  const egress = direction('Egress', from, to, to, port, protocol, cluster);
  if (!egress.allowed) return { allowed: false, reason: `egress of ${from.name} denied` };
  const ingress = direction('Ingress', to, from, to, port, protocol, cluster);
  if (!ingress.allowed) return { allowed: false, reason: `ingress of ${to.name} denied` };
  return { allowed: true, reason: `egress by [${egress.by.join(',')}], ingress by [${ingress.by.join(',')}]` };
}
