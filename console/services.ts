// The console's services, created once and handed to routes and to the
// Remix loaders (through the load context).
import type { Logger } from 'pino';
import { AuditLog } from './audit/service.js';
import { IdpHostPolicy } from './auth/idp-hosts.js';
import { DEFAULT_POLICY, type PasswordPolicy } from './auth/passwords.js';
import type { CsrfTokens } from './auth/sessions.js';
import { DEFAULT_TIMEOUTS, SessionStore, type SessionTimeouts } from './auth/sessions.js';
import { DEFAULT_LOCKOUT, SignIn, type LockoutAlert, type Lockout } from './auth/sign-in.js';
import type { OpenedDb } from './db/client.js';
import type { SecretBox } from './secret-box.js';
import { Tenants } from './tenants/service.js';
import { Artifacts } from './tenants/artifacts.js';
import { TenantBackups } from './tenants/backups.js';
import { TestLimit } from './tenants/connection-test.js';
import { TenantWorkspaces } from './tenants/workspaces.js';
import type { WorkspaceApi } from './workspaces.js';

export interface ConsoleSettings {
  policy: PasswordPolicy;
  lockout: Lockout;
  timeouts: SessionTimeouts;
  /** Cookies only over HTTPS; on unless serving plain HTTP on loopback. */
  secureCookies: boolean;
  /** Where SSO providers send people back, e.g. https://holdfast.example.com; without it SSO is off. */
  publicUrl?: string;
  /** Host names and CIDRs of internal addresses the console may send identity-provider requests to. */
  ssoAllowedHosts: string[];
  /** Sign-in attempts (form posts under /login) per minute from one address. */
  signInsPerMinute: number;
  /** POSTed a JSON alert when an account is locked. */
  alertWebhook?: string;
  /** PEM of the Ed25519 key that signs audit exports (HOLDFAST_AUDIT_SIGNING_KEY); else one kept in the database. */
  auditSigningKey?: string;
  /** Labels on every Workspace the console creates (HOLDFAST_WORKSPACE_LABELS, `key=value,…`), e.g. to match an operator's HOLDFAST_WORKSPACE_SELECTOR. */
  workspaceLabels?: Record<string, string>;
}

export const DEFAULT_SETTINGS: ConsoleSettings = {
  policy: DEFAULT_POLICY,
  lockout: DEFAULT_LOCKOUT,
  timeouts: DEFAULT_TIMEOUTS,
  secureCookies: true,
  signInsPerMinute: 30,
  ssoAllowedHosts: [],
};

export class ConsoleServices {
  readonly sessions: SessionStore;
  readonly signIn: SignIn;
  readonly tenants: Tenants;
  /** Tenants' Workspaces in the Kubernetes API. */
  readonly tenantWorkspaces: TenantWorkspaces;
  /** Tenants' backup logs, backups now and restore requests, as Backup and Restore resources. */
  readonly backups: TenantBackups;
  /** Backup artifacts streamed from S3 destinations to tenant admins. */
  readonly artifacts: Artifacts;
  readonly audit: AuditLog;
  readonly idpHosts: IdpHostPolicy;
  /** SSO connection tests: one at a time per tenant, ten a minute. */
  readonly ssoTests = new TestLimit();

  constructor(
    readonly database: OpenedDb,
    readonly settings: ConsoleSettings,
    readonly csrf: CsrfTokens,
    readonly workspaces: WorkspaceApi | undefined,
    readonly log: Logger,
    /** Seals what the console keeps and must read back: TOTP seeds, OIDC client secrets. */
    readonly secrets: SecretBox,
  ) {
    const db = database.db;
    this.sessions = new SessionStore(db, settings.timeouts);
    this.signIn = new SignIn(
      db,
      this.sessions,
      settings.policy,
      settings.lockout,
      (a) => this.lockoutAlert(a),
      (address) => csrf.keyed('address', address),
      secrets,
    );
    this.idpHosts = new IdpHostPolicy(settings.ssoAllowedHosts);
    this.tenants = new Tenants(db, secrets);
    this.backups = new TenantBackups(db, this.tenants, workspaces);
    this.artifacts = new Artifacts(db, this.tenants, workspaces);
    this.tenantWorkspaces = new TenantWorkspaces(db, this.tenants, workspaces, settings.workspaceLabels ?? {});
    this.audit = new AuditLog(db, secrets, settings.auditSigningKey);
  }

  /** The on-premise form of "an SMS on repeated unauthorized access". */
  private lockoutAlert(alert: LockoutAlert): void {
    this.log.warn(
      { alert: 'account-locked', ...alert },
      `account ${alert.email} locked after ${alert.failures} failed sign-ins`,
    );
    if (this.settings.alertWebhook) {
      fetch(this.settings.alertWebhook, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ alert: 'account-locked', ...alert, lockedUntil: alert.lockedUntil.toISOString() }),
        signal: AbortSignal.timeout(10_000),
      }).catch((err: unknown) =>
        this.log.error({ err: String(err) }, 'could not deliver the lockout alert to HOLDFAST_ALERT_WEBHOOK'),
      );
    }
    const workspaces = this.workspaces;
    if (alert.tenantId && workspaces) {
      void this.tenants
        .forSignIn(alert.tenantId)
        .then(
          (t) =>
            t &&
            workspaces.warn(
              t.workspace,
              'AccountLocked',
              `console account ${alert.email} locked after ${alert.failures} failed sign-ins from ${alert.ip}`,
            ),
        );
    }
  }
}
