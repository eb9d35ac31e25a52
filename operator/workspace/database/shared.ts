// Shared mode: a database and role on a SharedDatabaseServer, and the
// application Secret `db-app` that frameworks can use as is.
import { createHash } from 'node:crypto';
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

/** What the operator last saw of a server: answering, or not since when, and why. */
export interface ServerHealth {
  reachable: boolean;
  since: Date;
  error?: string;
}

/** Errors that say the server could not be reached at all (not that it refused something). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown: the server is going down
  '57P03', // cannot_connect_now: starting up or shutting down
]);

export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && UNREACHABLE.has(code);
}

/** How long a password seen to sign in is not tried again. */
const SIGN_IN_MEMORY_MS = 10 * 60_000;
const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/** How often servers in use are asked `SELECT 1`, and how long an answer may take. */
export const PROBE_EVERY_MS = 30_000;
const PROBE_TIMEOUT_MS = 5_000;

/**
 * One admin connection pool per server, replaced when its settings change,
 * and what each server last answered. While a server is unreachable its
 * workspaces say so without trying it, so that a server that swallows
 * connections cannot hold the operator's workers for its timeout each.
 */
export class ServerPool {
  private readonly pools = new Map<string, { key: string; sql: Sql }>();
  private readonly health = new Map<string, ServerHealth>();
  /** Told when a server starts or stops answering. */
  onHealthChange?: (server: string) => void;

  /**
   * Roles whose password was seen to sign in lately (by a hash of it). A
   * sign-in is a TLS handshake and a SCRAM exchange on the server: done for
   * every reconcile of a thousand workspaces, it is most of the work.
   */
  private readonly signIns = new Map<string, { hash: string; at: number }>();

  signedInLately(server: string, role: string, password: string): boolean {
    const seen = this.signIns.get(`${server}/${role}`);
    return seen !== undefined && seen.hash === digest(password) && Date.now() - seen.at < SIGN_IN_MEMORY_MS;
  }

  signedIn(server: string, role: string, password: string): void {
    this.signIns.set(`${server}/${role}`, { hash: digest(password), at: Date.now() });
  }

  healthOf(name: string): ServerHealth | undefined {
    return this.health.get(name);
  }

  /** Records what was seen of a server; tells onHealthChange when that differs from before. */
  record(name: string, reachable: boolean, error?: string): void {
    const was = this.health.get(name);
    if (was?.reachable === reachable) return;
    this.health.set(name, { reachable, since: new Date(), ...(error ? { error } : {}) });
    // A server seen for the first time and answering is no news.
    if (was || !reachable) this.onHealthChange?.(name);
  }

  /** Asks the server `SELECT 1`, within PROBE_TIMEOUT_MS. */
  async probe(name: string, target: ServerTarget): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.get(name, target)`select 1`.execute(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(Object.assign(new Error(`no answer in ${PROBE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })),
            PROBE_TIMEOUT_MS,
          );
        }),
      ]);
      this.record(name, true);
    } catch (err) {
      if (isUnreachable(err)) this.record(name, false, err instanceof Error ? err.message : String(err));
    } finally {
      clearTimeout(timer);
    }
  }

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
  d: Pick<SharedDeps, 'server' | 'secret'>,
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
  const health = d.pool.healthOf(serverName);
  if (health && !health.reachable)
    return {
      conditions: [
        {
          type: 'DatabaseReady',
          status: 'False',
          reason: 'ServerUnreachable',
          message: `SharedDatabaseServer ${serverName} (${target.host}:${target.port}) has not answered since ${health.since.toISOString()}: ${health.error ?? 'no answer'}; Holdfast asks it again every ${PROBE_EVERY_MS / 1000} s and carries on when it answers`,
        },
      ],
      events: [],
    };
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
    d.pool.record(serverName, true);
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
    const signsIn = async () => {
      if (d.pool.signedInLately(serverName, id, tenancy.password)) return true;
      if (!(await canSignIn(target, tenancy))) return false;
      d.pool.signedIn(serverName, id, tenancy.password);
      return true;
    };
    if (!roleIsNew && (rotating || !current || !(await signsIn()))) {
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
    // The role signs in with what the Secret holds: made, set or tried just now.
    d.pool.signedIn(serverName, id, tenancy.password);
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
    if (isUnreachable(err)) d.pool.record(serverName, false, err instanceof Error ? err.message : String(err));
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
