// Signing in, step by step: password (or SSO), then the second factor when
// the user has one, then a password change or TOTP enrolment when policy
// asks for it. Every step replaces the session, counts failures toward a
// progressive lockout, and is written to the audit log.
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import { appendAudit } from '../audit/log.js';
import type { ConsoleDb } from '../db/client.js';
import type { SecretBox } from '../secret-box.js';
import { recoveryCodes, tenants, users, type SessionStage, type Tenant, type User } from '../db/schema.js';
import { AddressThrottle, isLocked, lockDuration, lockedMessage, type Lockout } from './lockout.js';
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
import { recordSsoFailure, ssoSignIn } from './sso-accounts.js';
import { checkTotp, newRecoveryCodes, recoveryCodeHash } from './totp.js';

export interface Client {
  ip: string;
  userAgent: string;
}

export type { Lockout } from './lockout.js';
export { DEFAULT_LOCKOUT, lockDuration } from './lockout.js';
export { mappedRole } from './sso-accounts.js';

export interface LockoutAlert {
  email: string;
  tenantId: string | null;
  ip: string;
  failures: number;
  lockedUntil: Date;
}

export type StepResult = { ok: true; token: string; stage: SessionStage } | { ok: false; message: string };

const WRONG = 'The e-mail address or password is not right.';

export class SignIn {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly throttle: AddressThrottle;

  constructor(
    private readonly db: ConsoleDb,
    private readonly sessions: SessionStore,
    private readonly policy: PasswordPolicy,
    private readonly lockout: Lockout,
    private readonly alert: (a: LockoutAlert) => void,
    /** A keyed hash, so that what someone typed as an address is not stored when no account has it. */
    private readonly addressHash: (address: string) => string,
    /** TOTP seeds are kept sealed under it. */
    private readonly secrets: SecretBox,
  ) {
    this.throttle = new AddressThrottle(db, lockout);
  }

  /**
   * A password sign-in. An address may have an account in several tenants
   * (and one of no tenant): the password is tried against each of them at
   * once, so the answer takes about as long whether there are none, one or
   * several, and the account whose password it is signs in.
   */
  async password(email: string, password: string, client: Client, replaces?: string): Promise<StepResult> {
    const address = email.trim().toLowerCase();
    return this.serialized(`address:${address}`, async () => {
      const accounts = (await this.accountsOf(address)).filter((u) => u.passwordHash && !u.disabled);
      if (accounts.length === 0) return this.unknownAddress(address, password, client);
      const open = accounts.filter((u) => !isLocked(u.lockedUntil));
      if (open.length === 0) {
        await this.db.transaction(async (tx) => {
          for (const user of accounts)
            await appendAudit(tx, {
              actor: user.email,
              tenantId: user.tenantId,
              action: 'sign-in.refused-locked',
              target: `user/${user.id}`,
              ip: client.ip,
            });
        });
        return { ok: false, message: lockedMessage(earliest(accounts.map((u) => u.lockedUntil!))) };
      }
      const right = await Promise.all(open.map((u) => verifyPassword(u.passwordHash!, password)));
      const matched = open.filter((_, i) => right[i]);
      if (matched.length === 1)
        return this.advance(await this.checkPolicy(matched[0]!, password), 'password', client, replaces, true);
      if (matched.length > 1) {
        return {
          ok: false,
          message:
            'This address and password open accounts in more than one organization. Ask an administrator to reset the password of one of them.',
        };
      }
      const locks: Date[] = [];
      for (const user of open) {
        const lockedUntil = await this.failed(user, client, 'password');
        if (lockedUntil) locks.push(lockedUntil);
      }
      return { ok: false, message: locks.length > 0 ? lockedMessage(earliest(locks)) : WRONG };
    });
  }

  /** No account has this address: the same work, the same answers and the same lock as for one that has. */
  private async unknownAddress(address: string, password: string, client: Client): Promise<StepResult> {
    const key = this.addressHash(address);
    const actor = `unknown:${key.slice(0, 16)}`;
    const locked = await this.throttle.lockedUntil(key);
    if (locked) {
      await this.db.transaction((tx) =>
        appendAudit(tx, { actor, action: 'sign-in.refused-locked', target: 'console', ip: client.ip }),
      );
      return { ok: false, message: lockedMessage(locked) };
    }
    await verifyPassword(await decoyHash(), password);
    const lockedUntil = await this.throttle.fail(key);
    await this.db.transaction((tx) =>
      appendAudit(tx, {
        actor,
        action: 'sign-in.failed',
        target: 'console',
        ip: client.ip,
        after: { reason: 'unknown account' },
      }),
    );
    return { ok: false, message: lockedUntil ? lockedMessage(lockedUntil) : WRONG };
  }

  private async accountsOf(address: string): Promise<User[]> {
    return this.db
      .select()
      .from(users)
      .where(sql`lower(${users.email}) = ${address}`);
  }

  /** The TOTP code or a recovery code of a session in stage second-factor. */
  async secondFactor(current: User, code: string, client: Client, replaces: string): Promise<StepResult> {
    return this.oneAtATime(current.id, async (user) => {
      if (isLocked(user.lockedUntil)) return { ok: false, message: lockedMessage(user.lockedUntil) };
      const trimmed = code.trim();
      if (/^\d{6}$/.test(trimmed) && user.totpSecret) {
        const step = await checkTotp(
          this.secrets.open(user.totpSecret, totpContext(user.id)),
          trimmed,
          user.totpLastStep,
        );
        if (step === undefined) return this.failedCode(user, client, 'totp');
        // Claimed in the database, so that a code sent twice at once still works once.
        const [claimed] = await this.db
          .update(users)
          .set({ totpLastStep: step })
          .where(and(eq(users.id, user.id), or(isNull(users.totpLastStep), lt(users.totpLastStep, step))))
          .returning({ id: users.id });
        if (!claimed) return this.failedCode(user, client, 'totp');
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
      if (!used) return this.failedCode(user, client, 'second factor');
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
   * A person the tenant's identity provider vouched for: see ssoSignIn.
   */
  async sso(
    tenant: Tenant,
    identity: SsoIdentity,
    method: 'oidc' | 'saml',
    client: Client,
    replaces?: string,
  ): Promise<StepResult> {
    return ssoSignIn(
      {
        db: this.db,
        sessions: this.sessions,
        advance: (user) => this.advance(user, method, client, replaces, false),
      },
      tenant,
      identity,
      method,
      client,
    );
  }

  /** A single sign-on that failed before or at the console's checks, in the tenant's audit log. */
  async ssoFailed(
    tenantId: string,
    method: 'oidc' | 'saml',
    client: Client,
    details: { reason: string } & Record<string, unknown>,
    /** Who the provider said signed in, when it got that far. */
    actor = `sso:${tenantId}`,
  ): Promise<void> {
    await recordSsoFailure(this.db, { tenantId, method, ip: client.ip, details, actor });
  }

  /** Sets a new password for a session in stage password-change, or from the account page. */
  async changePassword(
    user: User,
    current: string | undefined,
    next: string,
    client: Client,
    replaces: string,
  ): Promise<StepResult> {
    if (current !== undefined) {
      const refused = await this.reauthenticate(user, current, client);
      if (refused) return refused;
    }
    const problems = passwordProblems(next, await this.policyFor(user), [user.email.split('@')[0] ?? '', user.name]);
    if (problems.length > 0) return { ok: false, message: `Choose another password: ${problems.join('; ')}.` };
    if (user.passwordHash && (await verifyPassword(user.passwordHash, next)))
      return { ok: false, message: 'Choose a password different from the current one.' };
    const passwordHash = await hashPassword(next);
    await this.db.transaction(async (tx) => {
      await tx
        .update(users)
        .set({ passwordHash, passwordChangedAt: new Date(), mustChangePassword: false, passwordUnmetPolicy: false })
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
    const fresh = {
      ...user,
      passwordHash,
      passwordChangedAt: new Date(),
      mustChangePassword: false,
      passwordUnmetPolicy: false,
    };
    return this.advance(fresh, 'password', client, replaces, false);
  }

  /** Turns TOTP on once the user proved they hold the secret; returns the recovery codes to show once. */
  async enrolTotp(
    user: User,
    secret: string,
    code: string,
    client: Client,
    replaces: string,
    /** Asked again when a signed-in person turns TOTP on: a session left open must not be enough. */
    currentPassword?: string,
  ): Promise<(StepResult & { ok: true; recoveryCodes: string[] }) | { ok: false; message: string }> {
    const session = await this.sessions.resolve(replaces);
    if (session?.session.stage === 'active' && user.passwordHash) {
      const refused = await this.reauthenticate(user, currentPassword ?? '', client);
      if (refused) return { ok: false, message: refused.message };
    }
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
        .set({
          totpSecret: this.secrets.seal(secret, totpContext(user.id)),
          totpEnabledAt: new Date(),
          totpLastStep: step,
        })
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

  /** The current password asked again by a signed-in person; wrong ones count toward the lockout like any other. */
  private async reauthenticate(
    user: User,
    password: string,
    client: Client,
  ): Promise<{ ok: false; message: string } | undefined> {
    const result = await this.oneAtATime(user.id, async (fresh) => {
      if (isLocked(fresh.lockedUntil)) return { ok: false, message: lockedMessage(fresh.lockedUntil) };
      if (fresh.passwordHash && (await verifyPassword(fresh.passwordHash, password)))
        return { ok: true, token: '', stage: 'active' };
      const lockedUntil = await this.failed(fresh, client, 'current password');
      return { ok: false, message: lockedUntil ? lockedMessage(lockedUntil) : 'The current password is not right.' };
    });
    return result.ok ? undefined : result;
  }

  /**
   * Runs the attempts on one account one after another, each on a fresh read
   * of it, so that guesses sent in parallel cannot all be checked before the
   * lock of the first failures takes hold. (Per console process; the sign-in
   * rate limit bounds what several replicas could add.)
   */
  private async oneAtATime(userId: string, attempt: (user: User) => Promise<StepResult>): Promise<StepResult> {
    return this.serialized(`user:${userId}`, async () => {
      const [user] = await this.db.select().from(users).where(eq(users.id, userId));
      if (!user || user.disabled) return { ok: false, message: WRONG };
      return attempt(user);
    });
  }

  /** Runs the attempts under one key (an account, an address) one after another. */
  private async serialized<T>(key: string, attempt: () => Promise<T>): Promise<T> {
    const before = this.inFlight.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chain = before.then(() => mine);
    this.inFlight.set(key, chain);
    try {
      await before;
      return await attempt();
    } finally {
      release();
      if (this.inFlight.get(key) === chain) this.inFlight.delete(key);
    }
  }

  private async failedCode(user: User, client: Client, factor: string): Promise<StepResult> {
    const lockedUntil = await this.failed(user, client, factor);
    return { ok: false, message: lockedUntil ? lockedMessage(lockedUntil) : 'That code is not right.' };
  }

  /** Counts a failure toward the account's lockout; returns the lock it caused, if any. */
  private async failed(user: User, client: Client, factor: string): Promise<Date | null> {
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
    if (lockedUntil) this.alert({ email: user.email, tenantId: user.tenantId, ip: client.ip, failures, lockedUntil });
    return lockedUntil;
  }

  /** The rules the user's passwords follow: their tenant's own, or the console's default. */
  async policyFor(user: Pick<User, 'tenantId'>): Promise<PasswordPolicy> {
    if (!user.tenantId) return this.policy;
    const [row] = await this.db
      .select({ policy: tenants.passwordPolicy })
      .from(tenants)
      .where(eq(tenants.id, user.tenantId));
    return row?.policy ?? this.policy;
  }

  /**
   * A right password that breaks the tenant's current rules (made stricter
   * since it was chosen) is marked, so that it is changed before the session
   * becomes active, after the second factor if there is one.
   */
  private async checkPolicy(user: User, password: string): Promise<User> {
    const problems = passwordProblems(password, await this.policyFor(user), [
      user.email.split('@')[0] ?? '',
      user.name,
    ]);
    const unmet = problems.length > 0;
    if (unmet === user.passwordUnmetPolicy) return user;
    await this.db.update(users).set({ passwordUnmetPolicy: unmet }).where(eq(users.id, user.id));
    return { ...user, passwordUnmetPolicy: unmet };
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
      (user.mustChangePassword ||
        user.passwordUnmetPolicy ||
        passwordExpired(user.passwordChangedAt, tenant?.passwordPolicy ?? this.policy))
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

function earliest(dates: Date[]): Date {
  return new Date(Math.min(...dates.map((d) => d.getTime())));
}

/** What a person's sealed TOTP seed is bound to. */
export const totpContext = (userId: string): string => `totp:${userId}`;
