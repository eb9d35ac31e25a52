// The console's own data. drizzle-kit generates the SQL migrations in
// ./migrations from this file; never edit those by hand.
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { PasswordPolicy } from '../auth/passwords.js';

export const ROLES = ['platform-admin', 'tenant-admin', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  displayName: text('display_name').notNull(),
  /** The Workspace this tenant maps to (cluster-scoped name). */
  workspace: text('workspace').notNull(),
  totpRequired: boolean('totp_required').notNull().default(false),
  /** OidcSettings without the secret, or null when OIDC is off. */
  oidc: jsonb('oidc').$type<{ issuer: string; clientId: string; scopes?: string; groupsClaim?: string } | null>(),
  oidcClientSecret: text('oidc_client_secret'),
  saml: jsonb('saml').$type<{
    entryPoint: string;
    idpCert: string;
    idpIssuer?: string;
    emailAttribute?: string;
    groupsAttribute?: string;
  } | null>(),
  /** IdP group → role for users created on first SSO sign-in. */
  roleMapping: jsonb('role_mapping').$type<{ group: string; role: Role }[]>().notNull().default([]),
  /** The tenant's own rules for local passwords; null follows the console's default. */
  passwordPolicy: jsonb('password_policy').$type<PasswordPolicy | null>(),
  createdAt: at('created_at').notNull().defaultNow(),
});

export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    email: text('email').notNull(),
    name: text('name').notNull().default(''),
    role: text('role', { enum: ROLES }).notNull(),
    /** null for platform admins and cluster-wide auditors. */
    tenantId: text('tenant_id').references(() => tenants.id, { onDelete: 'cascade' }),
    /** argon2id PHC string; null for users who only sign in through SSO. */
    passwordHash: text('password_hash'),
    passwordChangedAt: at('password_changed_at'),
    mustChangePassword: boolean('must_change_password').notNull().default(false),
    /** The password signed in but breaks its tenant's current policy: it is changed before going on. */
    passwordUnmetPolicy: boolean('password_unmet_policy').notNull().default(false),
    totpSecret: text('totp_secret'),
    totpEnabledAt: at('totp_enabled_at'),
    /** Last accepted TOTP time step: a code is never accepted twice. */
    totpLastStep: bigint('totp_last_step', { mode: 'number' }),
    failedSignIns: integer('failed_sign_ins').notNull().default(0),
    lockedUntil: at('locked_until'),
    /** `oidc:<sub>` or `saml:<NameID>`: unique only together with the issuer that vouched for it. */
    ssoSubject: text('sso_subject'),
    /** The OIDC issuer or SAML IdP entity ID of ssoSubject. */
    ssoIssuer: text('sso_issuer'),
    lastSignInAt: at('last_sign_in_at'),
    disabled: boolean('disabled').notNull().default(false),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  // An address is unique within a tenant (and among people of no tenant), not
  // across tenants: one tenant must not learn, or take, another's addresses.
  (t) => [
    uniqueIndex('users_tenant_email').on(sql`coalesce(${t.tenantId}, '')`, sql`lower(${t.email})`),
    index('users_email').on(sql`lower(${t.email})`),
    index('users_tenant').on(t.tenantId),
  ],
);

export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    usedAt: at('used_at'),
  },
  (t) => [index('recovery_codes_user').on(t.userId)],
);

export const SESSION_STAGES = ['second-factor', 'password-change', 'totp-enrolment', 'active'] as const;
export type SessionStage = (typeof SESSION_STAGES)[number];

export const sessions = pgTable(
  'sessions',
  {
    /** sha256 of the cookie token: a database leak does not hand out sessions. */
    idHash: text('id_hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    stage: text('stage', { enum: SESSION_STAGES }).notNull(),
    method: text('method').notNull(),
    ip: text('ip').notNull().default(''),
    userAgent: text('user_agent').notNull().default(''),
    createdAt: at('created_at').notNull().defaultNow(),
    lastSeenAt: at('last_seen_at').notNull().defaultNow(),
  },
  (t) => [index('sessions_user').on(t.userId)],
);

/** An SSO sign-in in flight: state, nonce and PKCE verifier, or the SAML request. */
export const signInRequests = pgTable('sign_in_requests', {
  idHash: text('id_hash').primaryKey(),
  tenantId: text('tenant_id')
    .notNull()
    .references(() => tenants.id, { onDelete: 'cascade' }),
  protocol: text('protocol', { enum: ['oidc', 'saml'] }).notNull(),
  data: jsonb('data').$type<Record<string, string>>().notNull(),
  createdAt: at('created_at').notNull().defaultNow(),
});

/**
 * Failed sign-ins of addresses that have no account, so that they lock like
 * real ones and the lock tells nobody whether an account exists. Keyed by an
 * HMAC of the address: what someone typed is not kept.
 */
export const signInThrottle = pgTable('sign_in_throttle', {
  keyHash: text('key_hash').primaryKey(),
  failures: integer('failures').notNull().default(0),
  lockedUntil: at('locked_until'),
  lastFailureAt: at('last_failure_at').notNull().defaultNow(),
});

/** Small console-wide values: the bootstrap password hash, the cookie-signing key. */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
});

export const auditLog = pgTable(
  'audit_log',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    at: text('at').notNull(),
    actor: text('actor').notNull(),
    tenantId: text('tenant_id'),
    action: text('action').notNull(),
    target: text('target').notNull(),
    ip: text('ip').notNull(),
    before: jsonb('before'),
    after: jsonb('after'),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [index('audit_log_tenant').on(t.tenantId, t.seq)],
);

export type Tenant = typeof tenants.$inferSelect;
export type User = typeof users.$inferSelect;
export type Session = typeof sessions.$inferSelect;
export type AuditEntry = typeof auditLog.$inferSelect;
