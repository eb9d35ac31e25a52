// Shared mode: a database and role on a SharedDatabaseServer, and the
// application Secret `db-app` that frameworks can use as is.
import type { Logger } from 'pino';
import type { SharedServerSpec } from '../../api/shared-server.js';
import { namespaceOf, type Workspace, type WorkspaceStatus } from '../../api/workspace.js';
import {
  canSignIn,
  connect,
  dropTenancy,
  createOwnedDatabase,
  generatePassword,
  provisionTenancy,
  setPassword,
  sharedIdentifier,
  TenancyNotOwnedError,
  type ServerTarget,
  type Sql,
  type Tenancy,
} from '../../database/shared.js';
import type { KubeObject } from '../../../kube/rest.js';
import type { SecretObject } from '../../tls/authority.js';
import type { ConditionInput } from '../conditions.js';
import { ownedMeta } from '../owner.js';
import { RETAINED_FROM, reusedUid } from '../ownership.js';
import { fromBase64, toBase64 } from '../../../kube/secret-data.js';

export const APP_SECRET = 'db-app';
export const ROTATE_PASSWORD_ANNOTATION = 'holdfast.io/rotate-password';
const ROTATED_FOR = 'holdfast.io/rotated-for';

export interface SharedServer extends KubeObject {
  spec: SharedServerSpec;
}

export interface DatabaseDecision {
  conditions: ConditionInput[];
  status?: NonNullable<WorkspaceStatus['database']>;
  requeueAfterMs?: number;
  events: { type: 'Normal' | 'Warning'; reason: string; message: string }[];
  /** CloudNativePG's WAL archive took its last segment then: the data is recoverable up to here. */
  walArchivedAt?: string;
}

export function desiredAppSecret(
  ws: Workspace,
  c: { host: string; port: number; dbname: string; user: string; password: string; ca: string; rotatedFor?: string },
): SecretObject {
  const uri = `postgresql://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${encodeURIComponent(c.dbname)}?sslmode=verify-full`;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      ...ownedMeta(ws, APP_SECRET, { labels: { 'holdfast.io/component': 'database-credentials' } }),
      ...(c.rotatedFor ? { annotations: { [ROTATED_FOR]: c.rotatedFor } } : {}),
    },
    // basic-auth, so that CloudNativePG and others take it as is.
    type: 'kubernetes.io/basic-auth',
    data: {
      username: toBase64(c.user),
      password: toBase64(c.password),
      user: toBase64(c.user),
      host: toBase64(c.host),
      port: toBase64(String(c.port)),
      dbname: toBase64(c.dbname),
      uri: toBase64(uri),
      'ca.crt': toBase64(c.ca),
    },
  };
}

/** One admin connection pool per server, replaced when its settings change. */
export class ServerPool {
  private readonly pools = new Map<string, { key: string; sql: Sql }>();
  get(name: string, target: ServerTarget): Sql {
    const key = JSON.stringify(target);
    const have = this.pools.get(name);
    if (have?.key === key) return have.sql;
    if (have) void have.sql.end({ timeout: 5 });
    const sql = connect(target);
    this.pools.set(name, { key, sql });
    return sql;
  }
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.sql.end({ timeout: 5 })));
    this.pools.clear();
  }
}

export interface SharedDeps {
  /** A Secret a SharedDatabaseServer refers to: from the watch cache where there is one, else read. */
  secret: (namespace: string, name: string) => Promise<SecretObject | undefined>;
  pool: ServerPool;
  log: Logger;
  server: (name: string) => SharedServer | undefined;
  /** Applies the app Secret (no write when unchanged). */
  applySecret: (secret: SecretObject, current: SecretObject | undefined) => Promise<unknown>;
}

/** Server connection details, or a condition that says what is missing. */
export async function serverTarget(
  d: SharedDeps,
  serverName: string,
): Promise<{ target?: ServerTarget; problem?: ConditionInput; server?: SharedServer }> {
  const server = d.server(serverName);
  const fail = (reason: string, message: string) => ({
    problem: { type: 'DatabaseReady', status: 'False' as const, reason, message },
  });
  if (!server)
    return fail(
      'ServerNotFound',
      `SharedDatabaseServer "${serverName}" does not exist; create it or correct spec.database.serverRef`,
    );
  const { adminSecretRef, caSecretRef } = server.spec;
  const admin = await d.secret(adminSecretRef.namespace, adminSecretRef.name);
  const username = fromBase64(admin?.data?.username);
  const password = fromBase64(admin?.data?.password);
  if (!username || !password) {
    return fail(
      'AdminSecretInvalid',
      `Secret ${adminSecretRef.namespace}/${adminSecretRef.name} of SharedDatabaseServer "${serverName}" must exist with keys username and password`,
    );
  }
  const caSecret = await d.secret(caSecretRef.namespace, caSecretRef.name);
  const ca = fromBase64(caSecret?.data?.[caSecretRef.key ?? 'ca.crt']);
  if (!ca)
    return fail(
      'CASecretInvalid',
      `Secret ${caSecretRef.namespace}/${caSecretRef.name} of SharedDatabaseServer "${serverName}" must hold the server's CA under key ${caSecretRef.key ?? 'ca.crt'}`,
    );
  return {
    server,
    target: {
      host: server.spec.host,
      port: server.spec.port ?? 5432,
      database: server.spec.database ?? 'postgres',
      ca,
      username,
      password,
    },
  };
}

/**
 * A database beside the workspace's own on its server, for a Restore into a
 * new database: made by the operator (the workspace's role may not create
 * databases), owned by the workspace's role and marked as the Workspace's,
 * so that deletion drops it with the rest. Returns why it may not be made, or
 * undefined; throws when the server cannot be reached (a later try may work).
 */
export async function createRestoreDatabase(
  ws: Workspace,
  database: string,
  d: SharedDeps,
): Promise<string | undefined> {
  const serverName = ws.spec.database.serverRef!;
  const { target, problem } = await serverTarget(d, serverName);
  if (!target) return problem!.message;
  // What the server answers (refused names) is returned; an error reaching it is thrown, to be tried again.
  return createOwnedDatabase(
    d.pool.get(serverName, target),
    database,
    sharedIdentifier(ws.metadata.name),
    { workspace: ws.metadata.name, uid: ws.metadata.uid! },
    target,
  );
}

export async function reconcileShared(
  ws: Workspace,
  existing: SecretObject | undefined,
  d: SharedDeps,
): Promise<DatabaseDecision> {
  const serverName = ws.spec.database.serverRef!;
  const { target, problem } = await serverTarget(d, serverName);
  if (!target) return { conditions: [problem!], requeueAfterMs: 30_000, events: [] };
  const id = sharedIdentifier(ws.metadata.name);
  const rotateTo = ws.metadata.annotations?.[ROTATE_PASSWORD_ANNOTATION];
  const current = fromBase64(existing?.data?.password);
  const rotating =
    rotateTo !== undefined && existing !== undefined && existing.metadata.annotations?.[ROTATED_FOR] !== rotateTo;
  const tenancy: Tenancy = {
    role: id,
    database: id,
    password: current && !rotating ? current : generatePassword(),
    connectionLimit: ws.spec.database.connectionLimit ?? -1,
  };
  const events: DatabaseDecision['events'] = [];
  try {
    const sql = d.pool.get(serverName, target);
    const reused = reusedUid(ws);
    const { created, version } = await provisionTenancy(sql, tenancy, {
      owner: { workspace: ws.metadata.name, uid: ws.metadata.uid! },
      ...(reused ? { reuses: [reused] } : {}),
      // Made before ownership was marked: ours if the Secret in our namespace signs in.
      claimUnmarked: async () => current !== '' && existing !== undefined && (await canSignIn(target, tenancy)),
    });
    if (created.length)
      events.push({
        type: 'Normal',
        reason: 'DatabaseCreated',
        message: `created ${created.join(' and ')} on SharedDatabaseServer ${serverName}`,
      });
    const roleIsNew = created.some((c) => c.startsWith('role'));
    // The role existed: make sure the Secret's password signs in (it may have
    // been made before a crash, or rotation was asked for). Role first, then
    // the Secret: sessions already open are not affected.
    if (!roleIsNew && (rotating || !current || !(await canSignIn(target, tenancy)))) {
      await setPassword(sql, tenancy.role, tenancy.password);
      if (rotating)
        events.push({
          type: 'Normal',
          reason: 'PasswordRotated',
          message: `the password of role ${id} was rotated; Secret ${APP_SECRET} has the new one`,
        });
    }
    const secret = desiredAppSecret(ws, {
      host: target.host,
      port: target.port,
      dbname: id,
      user: id,
      password: tenancy.password,
      ca: target.ca,
      ...(rotateTo !== undefined ? { rotatedFor: rotateTo } : {}),
    });
    await d.applySecret(secret, existing);
    return {
      conditions: [
        {
          type: 'DatabaseReady',
          status: 'True',
          reason: 'Provisioned',
          message: `database ${id} and role ${id} on SharedDatabaseServer ${serverName} (PostgreSQL ${version}); credentials in Secret ${APP_SECRET}`,
        },
      ],
      status: {
        mode: 'Shared',
        provider: 'builtin',
        server: serverName,
        host: target.host,
        port: target.port,
        name: id,
        user: id,
        secretName: APP_SECRET,
        version,
      },
      events,
    };
  } catch (err) {
    if (err instanceof TenancyNotOwnedError) return { conditions: [notOwnedCondition(ws, serverName, err)], events };
    const message = `could not provision on SharedDatabaseServer ${serverName} (${target.host}:${target.port}): ${err instanceof Error ? err.message : String(err)}`;
    d.log.warn({ workspace: ws.metadata.name, err: message }, 'shared database provisioning failed');
    return {
      conditions: [{ type: 'DatabaseReady', status: 'False', reason: 'ServerError', message }],
      requeueAfterMs: 15_000,
      events,
    };
  }
}

function notOwnedCondition(ws: Workspace, serverName: string, err: TenancyNotOwnedError): ConditionInput {
  const earlier = err.markedFor;
  const todo =
    earlier && earlier.workspace === ws.metadata.name
      ? `they were kept by an earlier Workspace of this name, or belong to another Holdfast installation sharing this server. To reuse data this installation retained, annotate this Workspace: kubectl annotate workspace ${ws.metadata.name} ${RETAINED_FROM}=${earlier.workspace}/${earlier.uid}; otherwise choose another Workspace name`
      : 'drop or rename them on the server, or choose another Workspace name';
  return {
    type: 'DatabaseReady',
    status: 'False',
    reason: 'NotOwned',
    message: `on SharedDatabaseServer ${serverName}: ${err.message}; ${todo}`,
  };
}

/** What deletionPolicy Delete did on the server: dropped, or why it could not. */
export type DropResult = { leftAlone: string[] } | { unreachable: string };

/** deletionPolicy Delete: the database and role go too, if they are this Workspace's. */
export async function dropShared(ws: Workspace, d: SharedDeps): Promise<DropResult> {
  const serverName = ws.spec.database.serverRef!;
  const { target, problem } = await serverTarget(d, serverName);
  if (!target) return { unreachable: problem!.message };
  const id = sharedIdentifier(ws.metadata.name);
  const leftAlone = await dropTenancy(d.pool.get(serverName, target), { role: id, database: id }, ws.metadata.uid!);
  d.log.info(
    { workspace: ws.metadata.name, namespace: namespaceOf(ws.metadata.name), leftAlone },
    'dropped shared database and role',
  );
  return { leftAlone };
}
