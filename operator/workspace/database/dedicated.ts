// Dedicated mode, built-in provider: a single-instance PostgreSQL StatefulSet
// on the workspace's encrypted volume, TLS from the workspace certificate,
// scram-sha-256 over TLS only, restricted Pod Security. The application role
// (Secret db-app) owns its database and nothing more; the superuser's
// password is in Secret db-superuser, which only the database pod mounts (and
// the Job of a Restore into a new database, to create it).
import { namespaceOf, type Workspace } from '../../api/workspace.js';
import type { KubeObject } from '../../../kube/rest.js';
import type { ConditionInput } from '../conditions.js';
import { TLS_SECRET } from '../certificate/internal.js';
import { DATABASE_PORT } from '../network/desired.js';
import { COMPONENT_LABEL, ownedMeta } from '../owner.js';
import { DATA_CLAIM } from '../volume/desired.js';
import { APP_SECRET } from './shared.js';
import type { SecretObject } from '../../tls/authority.js';
import { toBase64 } from '../../../kube/secret-data.js';

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

// Passwords everywhere, the socket inside the pod included: no `trust`.
// TCP connections need TLS.
export const PG_HBA = [
  'local all all scram-sha-256',
  'hostssl all all 0.0.0.0/0 scram-sha-256',
  'hostssl all all ::/0 scram-sha-256',
  '',
].join('\n');

/** The bootstrap superuser; its password is in SUPERUSER_SECRET, which only the database pod (and a Restore into a new database) mounts. */
export const SUPERUSER = 'postgres';
export const SUPERUSER_SECRET = 'db-superuser';
const CREDENTIALS = '/etc/holdfast/credentials';
const INIT_ARGS = '--auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8';

/**
 * Run by an init container with the server's own image, before PostgreSQL
 * starts. On an empty data directory only: initdb with the superuser and its
 * password, then, in single-user mode (no server, nothing listening), the
 * application role, which owns its database and nothing more. Built in a
 * staging directory and moved into place at the end, so a failed attempt
 * leaves nothing that looks initialised. The image's entrypoint then finds
 * the data directory in place and only starts the server.
 */
export const INIT_SCRIPT = `#!/bin/sh
set -eu
[ -s "$PGDATA/PG_VERSION" ] && exit 0
app_password=$(cat "$APP_PASSWORD_FILE")
case "$app_password" in
  '' | *[!A-Za-z0-9]*) echo "holdfast-init: $APP_PASSWORD_FILE must hold letters and digits only" >&2; exit 1 ;;
esac
stage="$PGDATA.init"
rm -rf "$stage"
umask 077
# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments
initdb --username="$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" $POSTGRES_INITDB_ARGS -D "$stage" >/dev/null
log=$(mktemp)
postgres --single -D "$stage" -c password_encryption=scram-sha-256 postgres >/dev/null 2>"$log" <<SQL
CREATE ROLE "$APP_USER" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '$app_password'
CREATE DATABASE "$APP_DATABASE" OWNER "$APP_USER"
REVOKE ALL ON DATABASE "$APP_DATABASE" FROM PUBLIC
REVOKE ALL ON DATABASE postgres FROM PUBLIC
REVOKE ALL ON DATABASE template1 FROM PUBLIC
SQL
if grep -q 'ERROR:' "$log"; then cat "$log" >&2; exit 1; fi
rm -f "$log"
mv "$stage" "$PGDATA"
`;

export function desiredDatabaseObjects(ws: Workspace): KubeObject[] {
  const labels = { [COMPONENT_LABEL]: 'database' };
  const selector = { [COMPONENT_LABEL]: 'database', 'holdfast.io/workspace': ws.metadata.name };
  const { dbname, user } = dedicatedIdentity(ws);
  const resources = ws.spec.database.resources;
  const config: KubeObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(ws, CONFIG, { labels }),
    data: { 'pg_hba.conf': PG_HBA, 'init.sh': INIT_SCRIPT },
  };
  // The image's entrypoint contract: the superuser, its password file, initdb's arguments.
  const env = [
    { name: 'POSTGRES_USER', value: SUPERUSER },
    { name: 'POSTGRES_PASSWORD_FILE', value: `${CREDENTIALS}/superuser-password` },
    { name: 'POSTGRES_INITDB_ARGS', value: INIT_ARGS },
    { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
  ];
  const containerResources = {
    requests: { cpu: resources?.cpu ?? '250m', memory: resources?.memory ?? '512Mi' },
    limits: { memory: resources?.memory ?? '512Mi' },
  };
  const containerSecurity = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
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
          initContainers: [
            {
              name: 'init',
              image: postgresImage(ws.spec.database.version),
              command: ['/bin/sh', '/etc/holdfast/config/init.sh'],
              env: [
                ...env,
                { name: 'APP_USER', value: user },
                { name: 'APP_DATABASE', value: dbname },
                { name: 'APP_PASSWORD_FILE', value: `${CREDENTIALS}/app-password` },
              ],
              resources: containerResources,
              securityContext: containerSecurity,
              volumeMounts: [
                { name: 'data', mountPath: '/var/lib/postgresql/data' },
                { name: 'credentials', mountPath: CREDENTIALS, readOnly: true },
                { name: 'config', mountPath: '/etc/holdfast/config', readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
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
              env,
              ports: [{ name: 'postgres', containerPort: DATABASE_PORT, protocol: 'TCP' }],
              readinessProbe: probe(5, 10),
              livenessProbe: probe(30, 20),
              resources: containerResources,
              securityContext: containerSecurity,
              volumeMounts: [
                { name: 'data', mountPath: '/var/lib/postgresql/data' },
                { name: 'tls', mountPath: '/etc/holdfast/tls', readOnly: true },
                { name: 'credentials', mountPath: CREDENTIALS, readOnly: true },
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
            // The superuser's password, and the application's for the init container.
            {
              name: 'credentials',
              projected: {
                defaultMode: 0o440,
                sources: [
                  { secret: { name: SUPERUSER_SECRET, items: [{ key: 'password', path: 'superuser-password' }] } },
                  { secret: { name: APP_SECRET, items: [{ key: 'password', path: 'app-password' }] } },
                ],
              },
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

/** The superuser's credentials: for the database pod and the operator, never for the application. */
export function desiredSuperuserSecret(ws: Workspace, password: string): SecretObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMeta(ws, SUPERUSER_SECRET, { labels: { [COMPONENT_LABEL]: 'database-credentials' } }),
    type: 'kubernetes.io/basic-auth',
    data: { username: toBase64(SUPERUSER), password: toBase64(password) },
  };
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
