// A small JSON client for the Kubernetes API that keeps objects in their wire
// format. The operator compares desired objects with cached ones field by
// field, so both must look exactly as the apiserver sends them (client-node's
// typed models rename fields such as NetworkPolicy `from` to `_from`).
import { createHash } from 'node:crypto';
import https from 'node:https';
import type * as k8s from '@kubernetes/client-node';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: k8s.V1OwnerReference[];
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
  /** Who set which fields; informers drop it, a GET has it. */
  managedFields?: { manager?: string; operation?: string; fieldsV1?: unknown; time?: string }[];
}

/** An object as the apiserver sends it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export const MERGE_PATCH = 'application/merge-patch+json';
/** RFC 6902: a `test` operation makes the whole patch conditional on a value. */
export const JSON_PATCH = 'application/json-patch+json';

/** One field the apiserver refused, from a Status's details.causes. */
export interface StatusCause {
  /** The field path as the apiserver names it, e.g. `spec.backup.retention.daily`. */
  field?: string;
  reason?: string;
  message?: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly causes: StatusCause[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.code === 409;

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | undefined>;
}

/**
 * Told of every request a Rest makes in this process (by HTTP method, once
 * the apiserver has answered) and every watch an Informer starts: how the
 * operator counts its API traffic, whichever part made it.
 */
export const apiObserver: {
  request?: (method: string, resource: string) => void;
  watch?: (kind: Kind) => void;
} = {};

/** A MicroTime as the apiserver writes it (Lease renewTime, Event eventTime): RFC 3339 with six fractional digits. */
export const microTime = (at = new Date()): string => at.toISOString().replace(/Z$/, '000Z');

/** The resource (plural) a request's path is about: `secrets` for /api/v1/namespaces/a/secrets/b. */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const rest = parts.slice(parts[0] === 'api' ? 2 : 3);
  return (rest[0] === 'namespaces' && rest.length >= 3 ? rest[2] : rest[0]) ?? '';
}

/**
 * Kept-alive connections to the apiserver, one pool per server and TLS
 * identity, shared by every Rest in the process. client-node hands out a new
 * Agent for every request, which would mean a TLS handshake (and a freshly
 * parsed CA and client key in OpenSSL) for each of the operator's thousands
 * of writes; a pool reuses a handful of connections instead. Idle ones close
 * after a minute and do not keep a one-shot command alive.
 */
const agents = new Map<string, https.Agent>();

function pooledAgent(server: URL, options: https.RequestOptions): https.Agent {
  const identity = createHash('sha256');
  for (const part of [options.ca, options.cert, options.key, options.pfx, String(options.rejectUnauthorized)]) {
    for (const p of [part].flat())
      identity.update(typeof p === 'string' || Buffer.isBuffer(p) ? p : (JSON.stringify(p) ?? '-'));
    identity.update('\0');
  }
  const key = `${server.origin}|${identity.digest('hex')}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new https.Agent({
      keepAlive: true,
      maxFreeSockets: 8,
      timeout: 60_000,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      pfx: options.pfx,
      passphrase: options.passphrase,
      servername: options.servername,
      ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
    });
    agents.set(key, agent);
  }
  return agent;
}

export class Rest {
  private readonly server: URL;
  private applied: { at: number; options: https.RequestOptions } | undefined;

  constructor(private readonly kc: k8s.KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster; set KUBECONFIG or run in a pod');
    this.server = new URL(cluster.server);
  }

  /**
   * What the kubeconfig says to connect with (CA, client certificate, bearer
   * token) and the pooled agent for it. client-node reads the files again at
   * every call (a projected token rotates); reading them for every request
   * cost more than the request, so they are read at most every 10 s.
   */
  private async credentials(): Promise<https.RequestOptions> {
    if (this.applied && Date.now() - this.applied.at < 10_000) return this.applied.options;
    const options: https.RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(options);
    // A proxy keeps client-node's own agent, which knows how to reach it.
    if (!this.kc.getCurrentCluster()?.proxyUrl) options.agent = pooledAgent(this.server, options);
    this.applied = { at: Date.now(), options };
    return options;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server.pathname.replace(/\/$/, '') + path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const credentials = await this.credentials();
    const options: https.RequestOptions = {
      ...credentials,
      method,
      headers: { ...(credentials.headers as Record<string, string>), Accept: 'application/json' },
    };
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) {
      options.headers = {
        ...options.headers,
        'Content-Type': opts.contentType ?? 'application/json',
        'Content-Length': Buffer.byteLength(body),
      };
    }
    return new Promise<T>((resolve, reject) => {
      const req = https.request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          apiObserver.request?.(method, resourceOf(path));
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          if (status >= 200 && status < 300) return resolve(parsed as T);
          // A token that expired or rotated: read the kubeconfig again next time.
          if (status === 401) this.applied = undefined;
          const st = (parsed ?? {}) as { reason?: string; message?: string; details?: { causes?: StatusCause[] } };
          reject(
            new ApiError(
              status,
              st.reason ?? 'Unknown',
              st.message ?? `${method} ${path}: HTTP ${status}`,
              st.details?.causes ?? [],
            ),
          );
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: timed out after 30s`)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  get<T>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  /** GET, with undefined for 404 Not Found. */
  async find<T>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

interface ResourceInfo {
  apiVersion: string;
  plural: string;
  namespaced: boolean;
}

/** The kinds Holdfast reads and writes (the operator, and the local node's tooling), and where they live in the API. */
export const RESOURCES = {
  Namespace: { apiVersion: 'v1', plural: 'namespaces', namespaced: false },
  PersistentVolumeClaim: { apiVersion: 'v1', plural: 'persistentvolumeclaims', namespaced: true },
  PersistentVolume: { apiVersion: 'v1', plural: 'persistentvolumes', namespaced: false },
  Pod: { apiVersion: 'v1', plural: 'pods', namespaced: true },
  ResourceQuota: { apiVersion: 'v1', plural: 'resourcequotas', namespaced: true },
  LimitRange: { apiVersion: 'v1', plural: 'limitranges', namespaced: true },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', plural: 'networkpolicies', namespaced: true },
  StorageClass: { apiVersion: 'storage.k8s.io/v1', plural: 'storageclasses', namespaced: false },
  Lease: { apiVersion: 'coordination.k8s.io/v1', plural: 'leases', namespaced: true },
  Event: { apiVersion: 'events.k8s.io/v1', plural: 'events', namespaced: true },
  Secret: { apiVersion: 'v1', plural: 'secrets', namespaced: true },
  Certificate: { apiVersion: 'cert-manager.io/v1', plural: 'certificates', namespaced: true },
  Workspace: { apiVersion: 'holdfast.io/v1alpha1', plural: 'workspaces', namespaced: false },
  SharedDatabaseServer: { apiVersion: 'holdfast.io/v1alpha1', plural: 'shareddatabaseservers', namespaced: false },
  BackupDestination: { apiVersion: 'holdfast.io/v1alpha1', plural: 'backupdestinations', namespaced: false },
  Backup: { apiVersion: 'holdfast.io/v1alpha1', plural: 'backups', namespaced: true },
  Restore: { apiVersion: 'holdfast.io/v1alpha1', plural: 'restores', namespaced: true },
  StatefulSet: { apiVersion: 'apps/v1', plural: 'statefulsets', namespaced: true },
  Deployment: { apiVersion: 'apps/v1', plural: 'deployments', namespaced: true },
  CronJob: { apiVersion: 'batch/v1', plural: 'cronjobs', namespaced: true },
  Job: { apiVersion: 'batch/v1', plural: 'jobs', namespaced: true },
  Role: { apiVersion: 'rbac.authorization.k8s.io/v1', plural: 'roles', namespaced: true },
  RoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', plural: 'rolebindings', namespaced: true },
  Service: { apiVersion: 'v1', plural: 'services', namespaced: true },
  ConfigMap: { apiVersion: 'v1', plural: 'configmaps', namespaced: true },
  ServiceAccount: { apiVersion: 'v1', plural: 'serviceaccounts', namespaced: true },
  Cluster: { apiVersion: 'postgresql.cnpg.io/v1', plural: 'clusters', namespaced: true },
  ScheduledBackup: { apiVersion: 'postgresql.cnpg.io/v1', plural: 'scheduledbackups', namespaced: true },
  CustomResourceDefinition: {
    apiVersion: 'apiextensions.k8s.io/v1',
    plural: 'customresourcedefinitions',
    namespaced: false,
  },
} as const satisfies Record<string, ResourceInfo>;

export type Kind = keyof typeof RESOURCES;

function prefix(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** Collection path, across all namespaces when `namespace` is omitted. */
export function collectionPath(kind: Kind, namespace?: string): string {
  const r = RESOURCES[kind];
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix(r.apiVersion)}${ns}/${r.plural}`;
}

export function objectPath(kind: Kind, name: string, namespace?: string): string {
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
}

export function pathOf(obj: KubeObject): string {
  if (!(obj.kind in RESOURCES)) throw new Error(`unknown kind ${obj.kind}`);
  return objectPath(obj.kind as Kind, obj.metadata.name, obj.metadata.namespace);
}
