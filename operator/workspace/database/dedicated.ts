// Dedicated mode, built-in provider: a single-instance PostgreSQL StatefulSet
// on the workspace's encrypted volume, TLS from the workspace certificate,
// scram-sha-256 over TLS only, restricted Pod Security.
import { namespaceOf, type Workspace } from '../../api/workspace.js';
import type { KubeObject } from '../../../kube/rest.js';
import type { ConditionInput } from '../conditions.js';
import { TLS_SECRET } from '../certificate/internal.js';
import { DATABASE_PORT } from '../network/desired.js';
import { COMPONENT_LABEL, ownedMeta } from '../owner.js';
import { DATA_CLAIM } from '../volume/desired.js';
import { APP_SECRET } from './shared.js';

export const DATABASE_NAME = 'db';
export const POSTGRES_UID = 999; // the postgres user of the official image (and of the local images below)
const CONFIG = 'db-config';

/**
 * The local node's PostgreSQL images (hack/images.sh), built from Debian's
 * packages with the official image's contract (environment, uid 999, arguments
 * to postgres): `:15` is Debian bookworm's postgresql-15 and `:17` Debian
 * trixie's postgresql-17. No Debian release ships 16, so there is no `:16`:
 * a version 16 workspace cannot start on the local node.
 */
export const LOCAL_POSTGRES_IMAGE = 'localhost/holdfast-postgres';

/**
 * The image for a major version: the official `docker.io/library/postgres:<major>`,
 * or `<prefix>:<major>` with `HOLDFAST_POSTGRES_IMAGE` as the prefix (a mirror
 * such as registry/postgres, or LOCAL_POSTGRES_IMAGE on the local node).
 */
export function postgresImage(
  version: string,
  prefix = process.env.HOLDFAST_POSTGRES_IMAGE ?? 'docker.io/library/postgres',
): string {
  return `${prefix}:${version}`;
}

/** The application's database name and role inside a dedicated server. */
export function dedicatedIdentity(ws: Workspace): { dbname: string; user: string; host: string } {
  return { dbname: 'app', user: 'app', host: `${DATABASE_NAME}.${namespaceOf(ws.metadata.name)}.svc` };
}

// TLS for every TCP connection; the socket inside the pod stays for the
// image's own initialisation and probes.
export const PG_HBA = [
  'local all all trust',
  'hostssl all all 0.0.0.0/0 scram-sha-256',
  'hostssl all all ::/0 scram-sha-256',
  '',
].join('\n');

export function desiredDatabaseObjects(ws: Workspace): KubeObject[] {
  const labels = { [COMPONENT_LABEL]: 'database' };
  const selector = { [COMPONENT_LABEL]: 'database', 'holdfast.io/workspace': ws.metadata.name };
  const { dbname, user } = dedicatedIdentity(ws);
  const resources = ws.spec.database.resources;
  const config: KubeObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(ws, CONFIG, { labels }),
    data: { 'pg_hba.conf': PG_HBA },
  };
  const port = { name: 'postgres', port: DATABASE_PORT, targetPort: 'postgres', protocol: 'TCP' };
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(ws, DATABASE_NAME, { labels }),
    spec: { type: 'ClusterIP', selector, ports: [port] },
  };
  const headless: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(ws, `${DATABASE_NAME}-hl`, { labels }),
    spec: { clusterIP: 'None', selector, ports: [port], publishNotReadyAddresses: true },
  };
  const probe = (initialDelaySeconds: number, periodSeconds: number) => ({
    exec: { command: ['pg_isready', '-h', '127.0.0.1', '-p', String(DATABASE_PORT), '-U', user, '-d', dbname] },
    initialDelaySeconds,
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold: 6,
  });
  const statefulSet: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: ownedMeta(ws, DATABASE_NAME, { labels }),
    spec: {
      serviceName: `${DATABASE_NAME}-hl`,
      replicas: 1,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...selector, 'app.kubernetes.io/managed-by': 'holdfast' } },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: POSTGRES_UID,
            runAsGroup: POSTGRES_UID,
            fsGroup: POSTGRES_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'postgres',
              image: postgresImage(ws.spec.database.version),
              args: [
                '-c',
                'ssl=on',
                '-c',
                'ssl_cert_file=/etc/holdfast/tls/tls.crt',
                '-c',
                'ssl_key_file=/etc/holdfast/tls/tls.key',
                '-c',
                'ssl_ca_file=/etc/holdfast/tls/ca.crt',
                '-c',
                'ssl_min_protocol_version=TLSv1.2',
                '-c',
                'password_encryption=scram-sha-256',
                '-c',
                'hba_file=/etc/holdfast/config/pg_hba.conf',
              ],
              env: [
                { name: 'POSTGRES_USER', value: user },
                { name: 'POSTGRES_DB', value: dbname },
                { name: 'POSTGRES_PASSWORD_FILE', value: '/etc/holdfast/credentials/password' },
                { name: 'POSTGRES_INITDB_ARGS', value: '--auth-host=scram-sha-256 --auth-local=trust' },
                { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
              ],
              ports: [{ name: 'postgres', containerPort: DATABASE_PORT, protocol: 'TCP' }],
              readinessProbe: probe(5, 10),
              livenessProbe: probe(30, 20),
              resources: {
                requests: { cpu: resources?.cpu ?? '250m', memory: resources?.memory ?? '512Mi' },
                limits: { memory: resources?.memory ?? '512Mi' },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'data', mountPath: '/var/lib/postgresql/data' },
                { name: 'tls', mountPath: '/etc/holdfast/tls', readOnly: true },
                { name: 'credentials', mountPath: '/etc/holdfast/credentials', readOnly: true },
                { name: 'config', mountPath: '/etc/holdfast/config', readOnly: true },
                { name: 'run', mountPath: '/var/run/postgresql' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'data', persistentVolumeClaim: { claimName: DATA_CLAIM } },
            // 0640 and group postgres (fsGroup): PostgreSQL accepts a root-owned key in that mode.
            { name: 'tls', secret: { secretName: TLS_SECRET, defaultMode: 0o640 } },
            {
              name: 'credentials',
              secret: { secretName: APP_SECRET, defaultMode: 0o440, items: [{ key: 'password', path: 'password' }] },
            },
            { name: 'config', configMap: { name: CONFIG } },
            { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
            { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
          ],
        },
      },
    },
  };
  return [config, service, headless, statefulSet];
}

export function dedicatedCondition(statefulSet: KubeObject | undefined): ConditionInput {
  const status = statefulSet?.status as { readyReplicas?: number; replicas?: number } | undefined;
  if ((status?.readyReplicas ?? 0) >= 1) {
    return {
      type: 'DatabaseReady',
      status: 'True',
      reason: 'Running',
      message: `PostgreSQL ${DATABASE_NAME}-0 is ready`,
    };
  }
  return {
    type: 'DatabaseReady',
    status: 'False',
    reason: 'Starting',
    message: `waiting for pod ${DATABASE_NAME}-0 of StatefulSet ${DATABASE_NAME} to be ready`,
  };
}
