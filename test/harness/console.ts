// The console server for tests, built as `holdfast console` builds it (same
// services, bootstrap administrator, CSRF key from the database) on an
// embedded PGlite or on a fresh database of a real PostgreSQL, listening on
// loopback. Signing in goes through the services; API calls carry the
// session cookie and CSRF header a browser page would send.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServerBuild } from '@remix-run/node';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import postgres from 'postgres';
import type { Client } from '../../console/auth/sign-in.js';
import { bootstrapAdmin } from '../../console/bootstrap.js';
import { assembleConsole } from '../../console/main.js';
import { startMetricsServer, type MetricsServer } from '../../console/metrics.js';
import { openDatabase, type OpenedDb } from '../../console/db/client.js';
import { SecretBox } from '../../console/secret-box.js';
import { DEFAULT_SETTINGS, type ConsoleServices, type ConsoleSettings } from '../../console/services.js';
import type { WorkspaceApi } from '../../console/workspaces.js';
import { freePort, startPostgres, type TestPostgres } from './postgres.js';

export type ConsoleDatabase = 'pglite' | 'postgres';

export interface StartConsoleOptions {
  database: ConsoleDatabase;
  remix?: { build: ServerBuild; clientDir: string };
  settings?: Partial<ConsoleSettings>;
  workspaces?: WorkspaceApi;
  /** HOLDFAST_TRUSTED_PROXIES: the peers whose X-Forwarded-For is believed. */
  trustedProxies?: string[];
  /** On PostgreSQL, connect as a role of its own that owns the database and is no superuser, as an installation should. */
  ownRole?: boolean;
  /** HOLDFAST_SECRETS_KEY; a fresh key when not given. */
  secretsKey?: string;
}

export interface TestConsole {
  app: FastifyInstance;
  services: ConsoleServices;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The metrics address (HOLDFAST_CONSOLE_METRICS_ADDRESS), `http://127.0.0.1:<another port>` */
  metricsUrl: string;
  bootstrap: { email: string; oneTimePassword: string };
  stop(): Promise<void>;
}

export const BOOTSTRAP_EMAIL = 'admin@holdfast.test';

/** Who the tests sign in as, as a browser on loopback would be seen. */
export const TEST_CLIENT: Client = { ip: '127.0.0.1', userAgent: 'holdfast-console-test' };

// One PostgreSQL server per test file (vitest gives each file its own
// module graph); every console gets its own database on it.
let server: Promise<TestPostgres> | undefined;

/** Stops the file's PostgreSQL server, if a console started one. Call it in the file's afterAll. */
export async function stopConsolePostgres(): Promise<void> {
  const started = server;
  server = undefined;
  if (started) await (await started).stop();
}

/** A database of its own on the file's PostgreSQL server, as DATABASE_URL names it. */
export async function freshPostgresDatabase(ownRole: boolean): Promise<{ url: string; drop: () => Promise<void> }> {
  server ??= startPostgres();
  const pg = await server;
  const name = `console_${randomBytes(6).toString('hex')}`;
  const role = ownRole ? { user: name, password: randomBytes(12).toString('hex') } : undefined;
  const superuser = () =>
    postgres({
      host: pg.host,
      port: pg.port,
      username: pg.user,
      password: pg.password,
      database: 'postgres',
      ssl: { ca: pg.ca, rejectUnauthorized: true },
      max: 1,
      onnotice: () => undefined,
    });
  const admin = superuser();
  try {
    if (role) await admin.unsafe(`create role ${role.user} login password '${role.password}'`);
    await admin.unsafe(`create database ${name}${role ? ` owner ${role.user}` : ''}`);
  } finally {
    await admin.end();
  }
  const { user, password } = role ?? pg;
  // What an operator would put in DATABASE_URL: verified TLS against the server's CA.
  const url =
    `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${pg.port}/${name}` +
    `?sslmode=verify-full&sslrootcert=${encodeURIComponent(path.join(pg.dir, 'ca.crt'))}`;
  return {
    url,
    async drop() {
      const sql = superuser();
      try {
        await sql.unsafe(`drop database if exists ${name} with (force)`);
        if (role) await sql.unsafe(`drop role if exists ${role.user}`);
      } finally {
        await sql.end();
      }
    },
  };
}

async function openConsoleDatabase(
  kind: ConsoleDatabase,
  ownRole: boolean,
): Promise<{ database: OpenedDb; remove: () => Promise<void> }> {
  if (kind === 'postgres') {
    const fresh = await freshPostgresDatabase(ownRole);
    return { database: await openDatabase({ url: fresh.url }), remove: () => fresh.drop() };
  }
  const dataDir = await mkdtemp(path.join(tmpdir(), 'holdfast-console-'));
  return { database: await openDatabase({ dataDir }), remove: () => rm(dataDir, { recursive: true, force: true }) };
}

export async function startConsole(opts: StartConsoleOptions): Promise<TestConsole> {
  const { database, remove } = await openConsoleDatabase(opts.database, opts.ownRole ?? false);
  let app: FastifyInstance | undefined;
  let metrics: MetricsServer | undefined;
  const stop = async () => {
    await app?.close();
    await metrics?.close();
    await database.close();
    await remove();
  };
  try {
    // The port is chosen first, so that the console knows its public URL as production does (HOLDFAST_PUBLIC_URL).
    const port = await freePort();
    const settings: ConsoleSettings = {
      ...DEFAULT_SETTINGS,
      secureCookies: false,
      publicUrl: `http://127.0.0.1:${port}`,
      // The test identity providers run on loopback, which only an explicit allow-list opens.
      ssoAllowedHosts: ['127.0.0.1'],
      ...opts.settings,
    };
    const assembled = await assembleConsole({
      database,
      settings,
      secrets: SecretBox.parse(opts.secretsKey ?? SecretBox.generateKey()),
      log: pino({ level: process.env.HOLDFAST_TEST_CONSOLE_LOG ?? 'silent' }),
      workspaces: opts.workspaces,
      ...(opts.remix ? { remix: opts.remix } : {}),
      ...(opts.trustedProxies ? { trustProxy: opts.trustedProxies } : {}),
    });
    app = assembled.app;
    const { services } = assembled;
    const address = await assembled.app.listen({ host: '127.0.0.1', port });
    metrics = await startMetricsServer(assembled.registry, { host: '127.0.0.1', port: 0 });
    const boot = await bootstrapAdmin(database.db, BOOTSTRAP_EMAIL);
    if (!boot.oneTimePassword)
      throw new Error('a fresh console database made no one-time password for the first administrator');
    return {
      app: assembled.app,
      services,
      url: address,
      metricsUrl: metrics.url,
      bootstrap: { email: boot.email, oneTimePassword: boot.oneTimePassword },
      stop,
    };
  } catch (err) {
    // A console that failed to start leaves no database or data directory behind.
    await stop().catch(() => undefined);
    throw err;
  }
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface RequestOptions {
  body?: unknown;
  /** The x-csrf-token header: the session's own token unless given; null sends none. */
  csrf?: string | null;
  headers?: Record<string, string>;
}

/** Calls the console's HTTP API over the network as a signed-in page would: session cookie and CSRF header. */
export class ConsoleApi {
  constructor(
    private readonly target: TestConsole,
    /** The session token; undefined for a caller that never signed in. */
    readonly token?: string,
  ) {}

  get<T = unknown>(url: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    return this.request<T>('GET', url, options);
  }

  post<T = unknown>(url: string, body?: unknown, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    return this.request<T>('POST', url, { ...options, body });
  }

  patch<T = unknown>(url: string, body?: unknown, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    return this.request<T>('PATCH', url, { ...options, body });
  }

  async request<T>(method: string, url: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) {
      headers.cookie = `${this.target.app.cookieNames.session}=${this.token}`;
      const csrf = options.csrf === undefined ? this.target.services.csrf.issue(this.token) : options.csrf;
      if (csrf !== null) headers['x-csrf-token'] = csrf;
    } else if (options.csrf) {
      headers['x-csrf-token'] = options.csrf;
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    Object.assign(headers, options.headers);
    const response = await fetch(new URL(url, this.target.url), {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    const isJson = response.headers.get('content-type')?.startsWith('application/json') ?? false;
    return {
      status: response.status,
      body: (isJson && text ? JSON.parse(text) : text) as T,
      headers: response.headers,
    };
  }
}

/** Password sign-in through the services; throws unless it succeeded, returns the session token and its stage. */
export async function signIn(
  target: TestConsole,
  email: string,
  password: string,
): Promise<{ token: string; stage: string }> {
  const result = await target.services.signIn.password(email, password, TEST_CLIENT);
  if (!result.ok) throw new Error(`sign-in of ${email} failed: ${result.message}`);
  return { token: result.token, stage: result.stage };
}

/**
 * First sign-in with a one-time password: sign in, then choose `newPassword`
 * in the password-change stage. Returns the token of the active session.
 */
export async function firstSignIn(
  target: TestConsole,
  email: string,
  oneTimePassword: string,
  newPassword: string,
): Promise<string> {
  const first = await signIn(target, email, oneTimePassword);
  if (first.stage !== 'password-change')
    throw new Error(`expected ${email} to be asked for a new password, got stage ${first.stage}`);
  return changePassword(target, first.token, undefined, newPassword);
}

/** Changes the password of the session's user (current: as on the account page; undefined: in stage password-change). */
export async function changePassword(
  target: TestConsole,
  token: string,
  current: string | undefined,
  next: string,
): Promise<string> {
  const session = await target.services.sessions.resolve(token);
  if (!session) throw new Error('the session to change the password in has ended');
  const result = await target.services.signIn.changePassword(session.user, current, next, TEST_CLIENT, token);
  if (!result.ok) throw new Error(`password change failed: ${result.message}`);
  if (result.stage !== 'active')
    throw new Error(`expected an active session after the password change, got stage ${result.stage}`);
  return result.token;
}

/** A password the default policy accepts, different every call. */
export function strongPassword(): string {
  return `Hf-${randomBytes(9).toString('base64url')}7a`;
}
