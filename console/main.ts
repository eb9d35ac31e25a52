// `holdfast console`: opens the database, makes sure a first administrator
// exists, and serves the console.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ServerBuild } from '@remix-run/node';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createLogger } from '../kube/log.js';
import { ALLOWED_HOSTS_SETTING, IdpHostPolicy } from './auth/idp-hosts.js';
import { CsrfTokens } from './auth/sessions.js';
import { adminEmail, bootstrapAdmin, bootstrapNotice, csrfKey } from './bootstrap.js';
import { openDatabase, type OpenedDb } from './db/client.js';
import { consoleRegistry, metricsAddress, startMetricsServer } from './metrics.js';
import { trustedProxies } from './proxies.js';
import { resealSecrets } from './sealed-secrets.js';
import { SECRETS_KEY_SETTING, SecretBox } from './secret-box.js';
import { buildConsole, type BuildOptions } from './server.js';
import { ConsoleServices, DEFAULT_SETTINGS, type ConsoleSettings } from './services.js';
import { WorkspaceApi } from './workspaces.js';

/** The UI as `remix vite:build` left it in build/, found from the sources and from dist/. */
export async function loadRemixBuild(): Promise<{ build: ServerBuild; clientDir: string }> {
  const candidates = [path.resolve(import.meta.dirname, '../build'), path.resolve(import.meta.dirname, '../../build')];
  const found = candidates.find((d) => existsSync(path.join(d, 'server/index.js')));
  if (!found) throw new Error('the console UI is not built: run `npm run build:app` (hack/up and hack/test do)');
  const build = (await import(pathToFileURL(path.join(found, 'server/index.js')).href)) as ServerBuild;
  return { build, clientDir: path.join(found, 'client') };
}

export interface AssembleOptions {
  database: OpenedDb;
  settings: ConsoleSettings;
  /** HOLDFAST_SECRETS_KEY: what the console keeps sealed opens only with it. */
  secrets: SecretBox;
  log: Logger;
  workspaces?: WorkspaceApi | undefined;
  remix?: { build: ServerBuild; clientDir: string };
  logger?: BuildOptions['logger'];
  trustProxy?: BuildOptions['trustProxy'];
}

/** The services and the HTTP app over an opened database, as `holdfast console`, the tests and the benchmark run them. */
export async function assembleConsole(
  opts: AssembleOptions,
): Promise<{ app: FastifyInstance; services: ConsoleServices; registry: Registry }> {
  // Secrets kept in the clear by an older console, or under a retired key, are sealed under the newest key first.
  const resealed = await resealSecrets(opts.database.db, opts.secrets);
  if (resealed > 0) opts.log.info({ resealed }, 'sealed stored secrets under the newest HOLDFAST_SECRETS_KEY');
  const services = new ConsoleServices(
    opts.database,
    opts.settings,
    new CsrfTokens(await csrfKey(opts.database.db)),
    opts.workspaces,
    opts.log,
    opts.secrets,
  );
  // A signing key that cannot be read stops the start, not the first export.
  await services.audit.publicKey();
  const registry = consoleRegistry();
  const app = await buildConsole({
    services,
    registry,
    ...(opts.remix ? { remix: opts.remix } : {}),
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    ...(opts.trustProxy !== undefined ? { trustProxy: opts.trustProxy } : {}),
  });
  app.addHook('onClose', async () => {
    await opts.workspaces?.stop();
  });
  return { app, services, registry };
}

/**
 * The key that seals the console's stored secrets: HOLDFAST_SECRETS_KEY, from a
 * Secret. A console on an external PostgreSQL does not start without it. On the
 * embedded database (a local trial) it is made once and kept in a file beside
 * the data, which is only as safe as that folder.
 */
export async function secretsKey(
  env: Record<string, string | undefined>,
  dataDir: string,
  log: Logger,
): Promise<SecretBox> {
  const setting = env[SECRETS_KEY_SETTING];
  if (setting !== undefined) return SecretBox.parse(setting);
  if (env.DATABASE_URL)
    throw new Error(
      `${SECRETS_KEY_SETTING} is not set: TOTP seeds and OIDC client secrets are kept sealed in the console database ` +
        'under it. Make one with `openssl rand -base64 32`, keep it in a Secret, and set the variable from there.',
    );
  const file = `${dataDir.replace(/\/+$/, '')}.secrets-key`;
  let key = await readFile(file, 'utf8').catch(() => undefined);
  if (key === undefined) {
    key = SecretBox.generateKey();
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  }
  log.warn(
    { file },
    `${SECRETS_KEY_SETTING} is not set: stored secrets are sealed under a key kept beside the embedded database`,
  );
  return SecretBox.parse(key.trim(), file);
}

export async function runConsole(): Promise<void> {
  const log = createLogger('console');
  const listen = process.env.HOLDFAST_CONSOLE_ADDRESS ?? '0.0.0.0:8443';
  const [host, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
  // Refused before anything starts, so a proxy setting that would let clients pick their address never serves.
  const trustProxy = trustedProxies(process.env);
  const metricsAt = metricsAddress(process.env.HOLDFAST_CONSOLE_METRICS_ADDRESS);
  const dataDir = process.env.HOLDFAST_CONSOLE_DATA ?? path.resolve('.holdfast/console-data');
  const secrets = await secretsKey(process.env, dataDir, log);
  const database = await openDatabase({ url: process.env.DATABASE_URL, dataDir });
  log.info({ database: database.kind }, 'console database ready');
  const publicUrl = process.env.HOLDFAST_PUBLIC_URL;
  const loopback = host === '127.0.0.1' || host === 'localhost' || host === '::1';
  const settings = {
    ...DEFAULT_SETTINGS,
    // Plain HTTP only on loopback (local runs); anywhere else TLS terminates in front.
    secureCookies:
      process.env.HOLDFAST_INSECURE_COOKIES === 'true' ? false : !(loopback && !publicUrl?.startsWith('https:')),
    ...(publicUrl ? { publicUrl } : {}),
    ssoAllowedHosts: IdpHostPolicy.fromSetting(process.env[ALLOWED_HOSTS_SETTING]).entries.filter((e) => e.trim()),
    ...(process.env.HOLDFAST_ALERT_WEBHOOK ? { alertWebhook: process.env.HOLDFAST_ALERT_WEBHOOK } : {}),
    ...(process.env.HOLDFAST_AUDIT_SIGNING_KEY ? { auditSigningKey: process.env.HOLDFAST_AUDIT_SIGNING_KEY } : {}),
    workspaceLabels: parseLabels(process.env.HOLDFAST_WORKSPACE_LABELS ?? ''),
  };
  const { app, services, registry } = await assembleConsole({
    database,
    settings,
    secrets,
    log,
    workspaces: WorkspaceApi.fromEnvironment(log),
    remix: await loadRemixBuild(),
    logger: { level: process.env.HOLDFAST_LOG_LEVEL ?? 'info' },
    trustProxy,
  });
  const address = await app.listen({ host, port });
  const metrics = metricsAt ? await startMetricsServer(registry, metricsAt) : undefined;

  const boot = await bootstrapAdmin(database.db, adminEmail());
  const notice = bootstrapNotice(boot);
  // On its own line, for the person installing the console (hack/up shows it).
  if (notice) process.stdout.write(`${notice}\n`);
  if (!publicUrl) log.warn('HOLDFAST_PUBLIC_URL is not set: single sign-on stays off until it is');
  log.info({ address, publicUrl, metrics: metrics ? `${metrics.url}/metrics` : 'off' }, 'console listening');
  const purge = setInterval(() => void services.sessions.purgeExpired().catch(() => {}), 10 * 60_000);
  purge.unref();
  const stop = async () => {
    clearInterval(purge);
    await app.close();
    await metrics?.close();
    await database.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

/** `key=value,key2=value2` as HOLDFAST_WORKSPACE_LABELS gives it. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0)
      throw new Error(`HOLDFAST_WORKSPACE_LABELS: "${pair}" is not key=value; write e.g. team=platform,tier=gold`);
    labels[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return labels;
}
