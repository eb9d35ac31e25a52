// Resolves what the network policies of a workspace must name outside its
// namespace. Policies see packets after kube-proxy's DNAT, so a Service is
// followed to its pods (by selector) or to its endpoints' addresses, and the
// kube-apiserver is named by the addresses behind Service default/kubernetes.
// Read at each reconcile of a workspace that needs them.
import { isIP } from 'node:net';
import type { Workspace } from '../../api/workspace.js';
import { objectPath, type KubeObject, type Rest } from '../../../kube/rest.js';
import type { SharedServer } from '../database/shared.js';
import { ipBlock, type NetworkPeers, type PolicyPort } from './desired.js';

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}
interface Service extends KubeObject {
  spec: { type?: string; selector?: Record<string, string>; ports?: ServicePort[] };
}
interface EndpointSlice {
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
  ports?: { name?: string; port?: number; protocol?: string }[];
}

export interface PeerSources {
  rest: Rest;
  server: (name: string) => SharedServer | undefined;
  /** A BackupDestination's S3 endpoint, when it exists and is S3. */
  destinationEndpoint?: (name: string) => string | undefined;
  cnpgNamespace?: string;
}

/** The TCP port of an endpoint URL, as S3 clients reach it. */
export function endpointPort(endpoint: string): number {
  const url = new URL(endpoint);
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

export async function networkPeers(ws: Workspace, s: PeerSources): Promise<NetworkPeers> {
  const cnpg = ws.spec.database.mode === 'Dedicated' && ws.spec.database.provider === 'cloudnative-pg';
  const server = ws.spec.database.mode === 'Shared' ? s.server(ws.spec.database.serverRef ?? '') : undefined;
  const destinations = ws.spec.backup.destinations ?? [];
  return {
    // Backup jobs record their Backups through the API, as the CloudNativePG instances watch their Cluster.
    apiServer: cnpg || destinations.length > 0 ? await apiServerAddresses(s.rest) : [],
    objectStorePorts: [
      ...new Set(
        destinations
          .map((d) => s.destinationEndpoint?.(d.name))
          .filter((e): e is string => e !== undefined)
          .map(endpointPort),
      ),
    ].sort((a, b) => a - b),
    cnpgNamespace: s.cnpgNamespace ?? process.env.HOLDFAST_CNPG_NAMESPACE ?? 'cnpg-system',
    operatorNamespace: process.env.HOLDFAST_NAMESPACE ?? 'holdfast-system',
    ...(server ? { sharedServer: await sharedServerPeer(server.spec.host, server.spec.port, s.rest) } : {}),
  };
}

async function endpointSlices(rest: Rest, namespace: string, service: string): Promise<EndpointSlice[]> {
  const list = await rest.get<{ items: EndpointSlice[] }>(
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
    { labelSelector: `kubernetes.io/service-name=${service}` },
  );
  return list.items;
}

/** Where the kube-apiserver really listens: the endpoints of Service default/kubernetes. */
export async function apiServerAddresses(rest: Rest): Promise<{ ip: string; port: number }[]> {
  const found = new Map<string, { ip: string; port: number }>();
  for (const slice of await endpointSlices(rest, 'default', 'kubernetes')) {
    const port = slice.ports?.find((p) => p.name === 'https')?.port ?? slice.ports?.[0]?.port;
    if (!port) continue;
    for (const e of slice.endpoints ?? []) for (const ip of e.addresses) found.set(`${ip}:${port}`, { ip, port });
  }
  return [...found.values()].sort((a, b) => `${a.ip}:${a.port}`.localeCompare(`${b.ip}:${b.port}`));
}

/** `<service>.<namespace>[.svc[.cluster.local]]`, the forms a Service answers to from another namespace. */
function serviceOf(host: string): { name: string; namespace: string } | undefined {
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)(\.svc(\.cluster\.local)?)?$/.exec(host.toLowerCase().replace(/\.$/, ''));
  return m ? { name: m[1]!, namespace: m[2]! } : undefined;
}

/**
 * The SharedDatabaseServer as a policy peer: an IP as an ipBlock; an
 * in-cluster Service as its pods (selector and target port) or, without a
 * selector, its endpoints' addresses; any other host name as the port on any
 * address, since a NetworkPolicy cannot name a DNS host.
 */
export async function sharedServerPeer(
  host: string,
  port: number,
  rest: Rest,
): Promise<NonNullable<NetworkPeers['sharedServer']>> {
  if (isIP(host)) return { to: [ipBlock(host)], ports: [{ protocol: 'TCP', port }] };
  const ref = serviceOf(host);
  const service = ref ? await rest.find<Service>(objectPath('Service', ref.name, ref.namespace)) : undefined;
  if (!ref || !service || service.spec.type === 'ExternalName') return { to: [], ports: [{ protocol: 'TCP', port }] };
  const servicePort = service.spec.ports?.find((p) => p.port === port);
  if (service.spec.selector && Object.keys(service.spec.selector).length > 0) {
    return {
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ref.namespace } },
          podSelector: { matchLabels: service.spec.selector },
        },
      ],
      ports: [{ protocol: 'TCP', port: servicePort?.targetPort ?? port }],
    };
  }
  const to = new Map<string, Record<string, unknown>>();
  const ports = new Map<string, PolicyPort>();
  for (const slice of await endpointSlices(rest, ref.namespace, ref.name)) {
    const p = slice.ports?.find((x) => (x.name ?? '') === (servicePort?.name ?? '')) ?? slice.ports?.[0];
    if (p?.port) ports.set(String(p.port), { protocol: 'TCP', port: p.port });
    for (const e of slice.endpoints ?? []) for (const ip of e.addresses) to.set(ip, ipBlock(ip));
  }
  return {
    to: [...to.keys()].sort().map((ip) => to.get(ip)!),
    ports: ports.size ? [...ports.values()] : [{ protocol: 'TCP', port }],
  };
}
