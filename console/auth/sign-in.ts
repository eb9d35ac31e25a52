// Signing in, step by step: password (or SSO), then the second factor when
// the user has one, then a password change or TOTP enrolment when policy
// asks for it. Every step replaces the session, counts failures toward a
// progressive lockout, and is written to the audit log.
import { randomUUID } from 'node:crypto';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import { appendAudit } from '../audit/log.js';
import type { ConsoleDb } from '../db/client.js';
import { recoveryCodes, tenants, users, type Role, type SessionStage, type Tenant, type User } from '../db/schema.js';
import {
  decoyHash,
  hashPassword,
  passwordExpired,
  passwordProblems,
  verifyPassword,
  type PasswordPolicy,
} from './passwords.js';
import type { SessionStore } from './sessions.js';
import type { SsoIdentity } from './sso.js';
import { checkTotp, newRecoveryCodes, recoveryCodeHash } from './totp.js';

export interface Client {
  ip: string;
  userAgent: string;
}

export interface Lockout {
  /** Failures in a row before the first lock. */
  threshold: number;
  /** The first lock; each further failure doubles it, up to `maxMs`. */
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_LOCKOUT: Lockout = { threshold: 5, baseMs: 60_000, maxMs: 24 * 3_600_000 };

export interface LockoutAlert {
  email: string;
  tenantId: string | null;
  ip: string;
  failures: number;
  lockedUntil: Date;
}

export type StepResult = { ok: true; token: string; stage: SessionStage } | { ok: false; message: string };

const WRONG = 'The e-mail address or password is not right.';

export function lockDuration(failures: number, lockout: Lockout): number {
  if (failures < lockout.threshold) return 0;
  return Math.min(lockout.baseMs * 2 ** (failures - lockout.threshold), lockout.maxMs);
}

export class SignIn {
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly db: ConsoleDb,
    private readonly sessions: SessionStore,
    private readonly policy: PasswordPolicy,
    private readonly lockout: Lockout,
    private readonly alert: (a: LockoutAlert) => void,
  ) {}

  async password(email: string, password: string, client: Client, replaces?: string): Promise<StepResult> {
    const found = await this.findByEmail(email);
    if (!found || !found.passwordHash || found.disabled) {
      await verifyPassword(await decoyHash(), password);
      await this.db.transaction((tx) =>
        appendAudit(tx, {
          actor: email.slice(0, 200),
          action: 'sign-in.failed',
          target: 'console',
          ip: client.ip,
          after: { reason: found ? 'no local password or disabled' : 'unknown account' },
        }),
      );
      return { ok: false, message: WRONG };
    }
    return this.oneAtATime(found.id, async (user) => {
      const locked = this.lockedMessage(user);
      if (locked) {
        await this.db.transaction((tx) =>
          appendAudit(tx, {
            actor: user.email,
            tenantId: user.tenantId,
            action: 'sign-in.refused-locked',
            target: `user/${user.id}`,
            ip: client.ip,
          }),
        );
        return { ok: false, message: locked };
      }
      if (!(await verifyPassword(user.passwordHash!, password))) return this.failed(user, client, 'password');
      return this.advance(user, 'password', client, replaces, true);
    });
  }

  /** The TOTP code or a recovery code of a session in stage second-factor. */
  async secondFactor(current: User, code: string, client: Client, replaces: string): Promise<StepResult> {
    return this.oneAtATime(current.id, async (user) => {
      const locked = this.lockedMessage(user);
      if (locked) return { ok: false, message: locked };
      const trimmed = code.trim();
      if (/^\d{6}$/.test(trimmed) && user.totpSecret) {
        const step = await checkTotp(user.totpSecret, trimmed, user.totpLastStep);
        if (step === undefined) return this.failed(user, client, 'totp');
        // Claimed in the database, so that a code sent twice at once still works once.
        const [claimed] = await this.db
          .update(users)
          .set({ totpLastStep: step })
          .where(and(eq(users.id, user.id), or(isNull(users.totpLastStep), lt(users.totpLastStep, step))))
          .returning({ id: users.id });
        if (!claimed) return this.failed(user, client, 'totp');
        return this.advance(user, 'totp', client, replaces, false);
      }
      const [used] = await this.db
        .update(recoveryCodes)
        .set({ usedAt: new Date() })
        .where(
          and(
            eq(recoveryCodes.userId, user.id),
            eq(recoveryCodes.codeHash, recoveryCodeHash(trimmed)),
            isNull(recoveryCodes.usedAt),
          ),
        )
        .returning({ id: recoveryCodes.id });
      if (!used) return this.failed(user, client, 'second factor');
      await this.db.transaction((tx) =>
        appendAudit(tx, {
          actor: user.email,
          tenantId: user.tenantId,
          action: 'recovery-code.used',
          target: `user/${user.id}`,
          ip: client.ip,
        }),
      );
      return this.advance(user, 'recovery code', client, replaces, false);
    });
  }

  /**
   * A person the tenant's identity provider vouched for. Their account is the
   * one created by an earlier sign-in with the same provider subject; their
   * role comes from their groups at every sign-in, so removing someone from
   * the mapped groups at the IdP removes their access here.
   */
  async sso(
    tenant: Tenant,
    identity: SsoIdentity,
    method: 'oidc' | 'saml',
    client: Client,
    replaces?: string,
  ): Promise<StepResult> {
    const subject = `${method}:${identity.subject}`;
    const refuse = async (reason: string, message: string, extra: Record<string, unknown> = {}) => {
      await this.db.transaction((tx) =>
        appendAudit(tx, {
          actor: identity.email,
          tenantId: tenant.id,
          action: 'sign-in.failed',
          target: `tenant/${tenant.id}`,
          ip: client.ip,
          after: { method, reason, ...extra },
        }),
      );
      return { ok: false as const, message };
    };
    let user = await this.findByEmail(identity.email);
    if (user && user.tenantId !== tenant.id) {
      return refuse(
        'account belongs to another tenant',
        `${identity.email} is not a member of ${tenant.displayName}. Ask a platform administrator.`,
      );
    }
    if (user && user.ssoSubject !== subject) {
      // Never take over an account by e-mail address alone: it may have a password and TOTP of its own.
      return refuse(
        'e-mail address belongs to an account not linked to this identity',
        `${identity.email} already has a console account that does not sign in through this identity provider. Sign in with its password, or ask your administrator.`,
      );
    }
    if (user?.disabled) return refuse('account disabled', 'This account is disabled. Ask your administrator.');
    const role = mappedRole(tenant, identity.groups);
    if (!role) {
      return refuse(
        'no role mapping for groups',
        `None of your groups (${identity.groups.join(', ') || 'none'}) gives a role in ${tenant.displayName}. Ask your administrator to add a role mapping.`,
        { groups: identity.groups },
      );
    }
    if (!user) {
      user = await this.db.transaction(async (tx) => {
        const [created] = await tx
          .insert(users)
          .values({
            id: randomUUID(),
            email: identity.email,
            name: identity.name ?? '',
            role,
            tenantId: tenant.id,
            ssoSubject: subject,
          })
          .returning();
        await appendAudit(tx, {
          actor: identity.email,
          tenantId: tenant.id,
          action: 'user.created',
          target: `user/${created!.id}`,
          ip: client.ip,
          after: { email: identity.email, role, via: method, groups: identity.groups },
        });
        return created!;
      });
    } else if (user.role !== role) {
      const before = user.role;
      user = await this.db.transaction(async (tx) => {
        const [changed] = await tx.update(users).set({ role }).where(eq(users.id, user!.id)).returning();
        await appendAudit(tx, {
          actor: identity.email,
          tenantId: tenant.id,
          action: 'user.role-changed',
          target: `user/${changed!.id}`,
          ip: client.ip,
          before: { role: before },
          after: { role, via: method, groups: identity.groups },
        });
        return changed!;
      });
    }
    return this.advance(user, method, client, replaces, false);
  }

  /** Sets a new password for a session in stage password-change, or from the account page. */
  async changePassword(
    user: User,
    current: string | undefined,
    next: string,
    client: Client,
    replaces: string,
  ): Promise<StepResult> {
    if (current !== undefined && !(user.passwordHash && (await verifyPassword(user.passwordHash, current)))) {
      return { ok: false, message: 'The current password is not right.' };
    }
    const problems = passwordProblems(next, this.policy, [user.email.split('@')[0] ?? '', user.name]);
    if (problems.length > 0) return { ok: false, message: `Choose another password: ${problems.join('; ')}.` };
    if (user.passwordHash && (await verifyPassword(user.passwordHash, next)))
      return { ok: false, message: 'Choose a password different from the current one.' };
    const passwordHash = await hashPassword(next);
    await this.db.transaction(async (tx) => {
      await tx
        .update(users)
        .set({ passwordHash, passwordChangedAt: new Date(), mustChangePassword: false })
        .where(eq(users.id, user.id));
      await appendAudit(tx, {
        actor: user.email,
        tenantId: user.tenantId,
        action: 'password.changed',
        target: `user/${user.id}`,
        ip: client.ip,
      });
    });
    // Whoever else held a session with the old password is signed out.
    await this.sessions.revokeUser(user.id, replaces);
    const fresh = { ...user, passwordHash, passwordChangedAt: new Date(), mustChangePassword: false };
    return this.advance(fresh, 'password', client, replaces, false);
  }

  /** Turns TOTP on once the user proved they hold the secret; returns the recovery codes to show once. */
  async enrolTotp(
    user: User,
    secret: string,
    code: string,
    client: Client,
    replaces: string,
  ): Promise<(StepResult & { ok: true; recoveryCodes: string[] }) | { ok: false; message: string }> {
    const step = await checkTotp(secret, code, null);
    if (step === undefined)
      return {
        ok: false,
        message: 'That code does not match. Check the time on your device and enter the current code.',
      };
    const codes = newRecoveryCodes();
    await this.db.transaction(async (tx) => {
      await tx
        .update(users)
        .set({ totpSecret: secret, totpEnabledAt: new Date(), totpLastStep: step })
        .where(eq(users.id, user.id));
      await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, user.id));
      await tx.insert(recoveryCodes).values(codes.map((c) => ({ userId: user.id, codeHash: recoveryCodeHash(c) })));
      await appendAudit(tx, {
        actor: user.email,
        tenantId: user.tenantId,
        action: 'totp.enabled',
        target: `user/${user.id}`,
        ip: client.ip,
      });
    });
    const next = await this.advance({ ...user, totpSecret: secret }, 'totp', client, replaces, false);
    return next.ok ? { ...next, recoveryCodes: codes } : next;
  }

  /**
   * Runs the attempts on one account one after another, each on a fresh read
   * of it, so that guesses sent in parallel cannot all be checked before the
   * lock of the first failures takes hold. (Per console process; the sign-in
   * rate limit bounds what several replicas could add.)
   */
  private async oneAtATime(userId: string, attempt: (user: User) => Promise<StepResult>): Promise<StepResult> {
    const before = this.inFlight.get(userId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chain = before.then(() => mine);
    this.inFlight.set(userId, chain);
    try {
      await before;
      const [user] = await this.db.select().from(users).where(eq(users.id, userId));
      if (!user || user.disabled) return { ok: false, message: WRONG };
      return await attempt(user);
    } finally {
      release();
      if (this.inFlight.get(userId) === chain) this.inFlight.delete(userId);
    }
  }

  private async findByEmail(email: string): Promise<User | undefined> {
    const [user] = await this.db
      .select()
      .from(users)
      .where(sql`lower(${users.email}) = ${email.trim().toLowerCase()}`);
    return user;
  }

  private lockedMessage(user: User): string | undefined {
    if (!user.lockedUntil || user.lockedUntil.getTime() <= Date.now()) return undefined;
    return `This account is locked after repeated failed sign-ins until ${user.lockedUntil.toISOString().slice(11, 16)} UTC. Try again then, or ask an administrator to unlock it.`;
  }

  private async failed(user: User, client: Client, factor: string): Promise<StepResult> {
    const { failures, lockedUntil } = await this.db.transaction(async (tx) => {
      // Counted in the database, so that wrong passwords sent in parallel all count.
      const [counted] = await tx
        .update(users)
        .set({ failedSignIns: sql`${users.failedSignIns} + 1` })
        .where(eq(users.id, user.id))
        .returning({ failures: users.failedSignIns });
      const failures = counted?.failures ?? user.failedSignIns + 1;
      const lockMs = lockDuration(failures, this.lockout);
      const lockedUntil = lockMs > 0 ? new Date(Date.now() + lockMs) : null;
      if (lockedUntil) await tx.update(users).set({ lockedUntil }).where(eq(users.id, user.id));
      await appendAudit(tx, {
        actor: user.email,
        tenantId: user.tenantId,
        action: 'sign-in.failed',
        target: `user/${user.id}`,
        ip: client.ip,
        after: { factor, failures },
      });
      if (lockedUntil) {
        await appendAudit(tx, {
          actor: 'console',
          tenantId: user.tenantId,
          action: 'user.locked',
          target: `user/${user.id}`,
          ip: client.ip,
          after: { failures, lockedUntil: lockedUntil.toISOString() },
        });
      }
      return { failures, lockedUntil };
    });
    if (lockedUntil) {
      this.alert({ email: user.email, tenantId: user.tenantId, ip: client.ip, failures, lockedUntil });
      return { ok: false, message: this.lockedMessage({ ...user, lockedUntil })! };
    }
    return { ok: false, message: factor === 'password' ? WRONG : 'That code is not right.' };
  }

  /** The next stage after a successful step, in a fresh session. */
  private async advance(
    user: User,
    method: string,
    client: Client,
    replaces: string | undefined,
    firstFactor: boolean,
  ): Promise<StepResult> {
    const tenant = user.tenantId
      ? (await this.db.select().from(tenants).where(eq(tenants.id, user.tenantId)))[0]
      : undefined;
    const local = method === 'password' || method === 'totp' || method === 'recovery code';
    let stage: SessionStage = 'active';
    if (firstFactor && user.totpSecret) stage = 'second-factor';
    else if (
      local &&
      user.passwordHash &&
      (user.mustChangePassword || passwordExpired(user.passwordChangedAt, this.policy))
    )
      stage = 'password-change';
    else if (local && tenant?.totpRequired && !user.totpSecret) stage = 'totp-enrolment';
    const token = await this.sessions.create(user, stage, method, client, replaces);
    await this.db.transaction(async (tx) => {
      // Failures count across factors until the whole sign-in succeeds: a right
      // password does not buy more guesses at the TOTP code.
      if (stage === 'active')
        await tx
          .update(users)
          .set({ failedSignIns: 0, lockedUntil: null, lastSignInAt: new Date() })
          .where(eq(users.id, user.id));
      await appendAudit(tx, {
        actor: user.email,
        tenantId: user.tenantId,
        action: stage === 'active' ? 'sign-in' : `sign-in.${stage}`,
        target: `user/${user.id}`,
        ip: client.ip,
        after: { method },
      });
    });
    return { ok: true, token, stage };
  }
}

export function mappedRole(tenant: Tenant, groups: string[]): Role | undefined {
  const order: Role[] = ['tenant-admin', 'auditor'];
  const granted = tenant.roleMapping
    .filter((m) => groups.includes(m.group) && m.role !== 'platform-admin')
    .map((m) => m.role);
  return order.find((r) => granted.includes(r));
}
