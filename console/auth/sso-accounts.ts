// The accounts single sign-on finds, creates and refuses, within one tenant.
import { randomUUID } from 'node:crypto';
import { and, eq, isNull, or, sql } from 'drizzle-orm';
import { appendAudit } from '../audit/log.js';
import type { ConsoleDb } from '../db/client.js';
import { users, type Role, type Tenant, type User } from '../db/schema.js';
import type { SessionStore } from './sessions.js';
import type { Client, StepResult } from './sign-in.js';
import type { SsoIdentity } from './sso.js';

/**
 * A person the tenant's identity provider vouched for. Their account is the
 * one created by an earlier sign-in with the same provider subject; their
 * role comes from their groups at every sign-in, so removing someone from
 * the mapped groups at the IdP removes their access here.
 */
export async function ssoSignIn(
  deps: { db: ConsoleDb; sessions: SessionStore; advance: (user: User) => Promise<StepResult> },
  tenant: Tenant,
  identity: SsoIdentity,
  method: 'oidc' | 'saml',
  client: Client,
): Promise<StepResult> {
  const subject = `${method}:${identity.subject}`;
  const refuse = async (reason: string, message: string, extra: Record<string, unknown> = {}) => {
    await recordSsoFailure(deps.db, {
      tenantId: tenant.id,
      method,
      ip: client.ip,
      details: { reason, issuer: identity.issuer, ...extra },
      actor: identity.email,
    });
    return { ok: false as const, message };
  };
  // Only this tenant's people count: an address in another tenant is someone else's business.
  let user = await linkedAccount(deps.db, tenant.id, identity.issuer, subject, method);
  if (!user) {
    const [sameAddress] = await deps.db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.tenantId, tenant.id), sql`lower(${users.email}) = ${identity.email.trim().toLowerCase()}`));
    // Never take over an account by e-mail address alone: it may have a password and TOTP of its own,
    // or belong to the same subject at another issuer.
    if (sameAddress) {
      return refuse(
        'e-mail address belongs to an account not linked to this identity',
        `${identity.email} already has a console account that does not sign in through this identity provider. Sign in with its password, or ask your administrator.`,
      );
    }
  }
  if (user?.disabled) return refuse('account disabled', 'This account is disabled. Ask your administrator.');
  const role = mappedRole(tenant, identity.groups);
  if (!role) {
    // Removed from the mapped groups at the IdP: whatever sessions they still hold end now.
    if (user) await deps.sessions.revokeUser(user.id);
    return refuse(
      'no role mapping for groups',
      `None of your groups (${identity.groups.join(', ') || 'none'}) gives a role in ${tenant.displayName}. Ask your administrator to add a role mapping.`,
      { groups: identity.groups },
    );
  }
  if (!user) {
    user = await deps.db.transaction(async (tx) => {
      const [created] = await tx
        .insert(users)
        .values({
          id: randomUUID(),
          email: identity.email,
          name: identity.name ?? '',
          role,
          tenantId: tenant.id,
          ssoSubject: subject,
          ssoIssuer: identity.issuer,
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
    user = await deps.db.transaction(async (tx) => {
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
  return deps.advance(user);
}

/**
 * The tenant's account linked to this subject at this issuer. Accounts
 * linked over SAML before the issuer was recorded (and whose tenant pinned
 * no IdP entity ID) take the issuer of their next signed sign-in.
 */
export async function linkedAccount(
  db: ConsoleDb,
  tenantId: string,
  issuer: string,
  subject: string,
  method: 'oidc' | 'saml',
): Promise<User | undefined> {
  const [user] = await db
    .select()
    .from(users)
    .where(
      and(
        eq(users.tenantId, tenantId),
        eq(users.ssoSubject, subject),
        method === 'saml' ? or(eq(users.ssoIssuer, issuer), isNull(users.ssoIssuer)) : eq(users.ssoIssuer, issuer),
      ),
    )
    .orderBy(sql`${users.ssoIssuer} is null`)
    .limit(1);
  if (user && user.ssoIssuer === null) {
    await db.update(users).set({ ssoIssuer: issuer }).where(eq(users.id, user.id));
    return { ...user, ssoIssuer: issuer };
  }
  return user;
}

export async function recordSsoFailure(
  db: ConsoleDb,
  failure: {
    tenantId: string;
    method: 'oidc' | 'saml';
    ip: string;
    details: { reason: string } & Record<string, unknown>;
    actor: string;
  },
): Promise<void> {
  await db.transaction((tx) =>
    appendAudit(tx, {
      actor: failure.actor,
      tenantId: failure.tenantId,
      action: 'sign-in.failed',
      target: `tenant/${failure.tenantId}`,
      ip: failure.ip,
      after: { method: failure.method, ...failure.details },
    }),
  );
}

export function mappedRole(tenant: Tenant, groups: string[]): Role | undefined {
  const order: Role[] = ['tenant-admin', 'auditor'];
  const granted = tenant.roleMapping
    .filter((m) => groups.includes(m.group) && m.role !== 'platform-admin')
    .map((m) => m.role);
  return order.find((r) => granted.includes(r));
}
