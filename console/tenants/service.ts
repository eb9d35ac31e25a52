// Tenants, their sign-in settings and their people. The API routes and the
// pages both call this, so tenant scoping is decided once, here.
import { X509Certificate, randomBytes, randomUUID } from 'node:crypto';
import { and, asc, count, desc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import { Forbidden, NotFound, requirePlatformAdmin, requireTenant, type Viewer } from '../access.js';
import { appendAudit } from '../audit/log.js';
import { hashPassword, POLICY_LIMITS } from '../auth/passwords.js';
import type { Client } from '../auth/sign-in.js';
import type { SecretBox } from '../secret-box.js';
import type { ConsoleDb } from '../db/client.js';
import { ROLES, tenants, users, type Tenant, type User } from '../db/schema.js';

const dnsLabel = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/,
    'use lower case letters, digits and "-", at most 40 characters, starting and ending with a letter or digit',
  );

export const OidcInput = z.object({
  issuer: z.url({ message: 'issuer must be the provider URL, e.g. https://login.example.com' }),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  scopes: z.string().optional(),
  groupsClaim: z.string().optional(),
});

export const SamlInput = z.object({
  entryPoint: z.url({ message: 'entryPoint must be the IdP single sign-on URL' }),
  idpCert: z
    .string()
    .regex(/-----BEGIN CERTIFICATE-----/, 'idpCert must be the PEM certificate the IdP signs with')
    .refine((pem) => {
      try {
        new X509Certificate(pem);
        return true;
      } catch {
        return false;
      }
    }, 'idpCert is not a readable PEM certificate; paste the whole certificate from the IdP metadata'),
  idpIssuer: z.string().optional(),
  emailAttribute: z.string().optional(),
  groupsAttribute: z.string().optional(),
});

export const RoleMapping = z
  .array(z.object({ group: z.string().min(1), role: z.enum(['tenant-admin', 'auditor']) }))
  .max(50);

export const TenantCreate = z.object({
  id: dnsLabel,
  displayName: z.string().min(1).max(100),
  workspace: dnsLabel.optional(),
  totpRequired: z.boolean().optional(),
});

const [minLo, minHi] = POLICY_LIMITS.minLength;
const [ageLo, ageHi] = POLICY_LIMITS.maxAgeDays;
export const PasswordPolicyInput = z.object({
  minLength: z
    .number({ message: 'minLength must be a number' })
    .int()
    .min(minLo, `minLength must be at least ${minLo}`)
    .max(minHi, `minLength must be at most ${minHi}`),
  requireDigit: z.boolean(),
  requireUpper: z.boolean(),
  requireLower: z.boolean(),
  forbidSpaces: z.boolean(),
  maxAgeDays: z
    .number({ message: 'maxAgeDays must be a number of days' })
    .int()
    .min(ageLo, 'maxAgeDays must be 0 (never) or more')
    .max(ageHi, `maxAgeDays must be at most ${ageHi} days`),
});

export const TenantUpdate = z.object({
  displayName: z.string().min(1).max(100).optional(),
  totpRequired: z.boolean().optional(),
  oidc: OidcInput.nullable().optional(),
  saml: SamlInput.nullable().optional(),
  roleMapping: RoleMapping.optional(),
  /** null follows the console's default. */
  passwordPolicy: PasswordPolicyInput.nullable().optional(),
});

export const UserCreate = z.object({
  email: z.email({ message: 'email must be an e-mail address' }),
  name: z.string().max(100).optional(),
  role: z.enum(ROLES),
});

export type TenantView = Omit<Tenant, 'oidcClientSecret'> & { oidcClientSecretSet: boolean; userCount: number };
export type UserView = Pick<
  User,
  'id' | 'email' | 'name' | 'role' | 'tenantId' | 'lastSignInAt' | 'lockedUntil' | 'disabled' | 'createdAt'
> & { totp: boolean; sso: boolean };

export const TENANT_SORTS = { name: tenants.displayName, id: tenants.id, created: tenants.createdAt } as const;
export type TenantSort = keyof typeof TENANT_SORTS;

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}

function tenantView(t: Tenant, userCount: number): TenantView {
  const { oidcClientSecret, ...rest } = t;
  return { ...rest, oidcClientSecretSet: Boolean(oidcClientSecret), userCount };
}

function userView(u: User): UserView {
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    tenantId: u.tenantId,
    lastSignInAt: u.lastSignInAt,
    lockedUntil: u.lockedUntil && u.lockedUntil > new Date() ? u.lockedUntil : null,
    disabled: u.disabled,
    createdAt: u.createdAt,
    totp: Boolean(u.totpSecret),
    sso: Boolean(u.ssoSubject),
  };
}

export interface TenantIndex {
  rows: readonly {
    id: string;
    displayName: string;
    workspace: string;
    createdAt: Date;
    oidc: boolean;
    saml: boolean;
    totpRequired: boolean;
    users: number;
  }[];
  workspaces: ReadonlySet<string>;
}

const RECENT_MS = 1_000;

export class Tenants {
  private indexed: { at: number; index: TenantIndex } | undefined;
  /** Counts changes, so that an index read while one committed is not kept. */
  private generation = 0;
  /** Tenants read in the last RECENT_MS, by id, with the generation they were read at. */
  private readonly recent = new Map<string, { at: number; generation: number; view: TenantView }>();

  constructor(
    private readonly db: ConsoleDb,
    private readonly secrets: SecretBox,
  ) {}

  async list(
    viewer: Viewer,
    opts: { sort?: TenantSort; desc?: boolean; page?: number; pageSize?: number } = {},
  ): Promise<Page<TenantView>> {
    const pageSize = Math.min(Math.max(opts.pageSize ?? 20, 1), 100);
    const page = Math.max(opts.page ?? 1, 1);
    const scope = viewer.tenantId === null ? undefined : eq(tenants.id, viewer.tenantId);
    const column = TENANT_SORTS[opts.sort ?? 'name'];
    // $count qualifies both columns; a plain sql`` subquery here would render
    // `"tenant_id" = "id"`, both read from users, and count 0 for every tenant.
    const rows = await this.db
      .select({ tenant: tenants, users: this.db.$count(users, eq(users.tenantId, tenants.id)) })
      .from(tenants)
      .where(scope)
      .orderBy(opts.desc ? desc(column) : asc(column), asc(tenants.id))
      .limit(pageSize)
      .offset((page - 1) * pageSize);
    const [total] = await this.db.select({ n: count() }).from(tenants).where(scope);
    return { items: rows.map((r) => tenantView(r.tenant, r.users)), total: total?.n ?? 0, page, pageSize };
  }

  /**
   * One tenant with its number of people. A page may get what was read
   * within the last second: this console's own changes are seen at once,
   * another replica's within that second.
   */
  async get(viewer: Viewer, id: string): Promise<TenantView> {
    requireTenant(viewer, id, false);
    const seen = this.recent.get(id);
    if (seen && seen.generation === this.generation && Date.now() - seen.at < RECENT_MS) return seen.view;
    const generation = this.generation;
    const [found] = await this.db
      .select({
        row: tenants,
        people: sql<number>`(select count(*)::int from ${users} where ${users.tenantId} = ${tenants.id})`,
      })
      .from(tenants)
      .where(eq(tenants.id, id));
    if (!found) throw new NotFound(`no tenant "${id}"`);
    const view = tenantView(found.row, Number(found.people));
    if (generation === this.generation) {
      if (this.recent.size >= 5_000) this.recent.clear();
      this.recent.set(id, { at: Date.now(), generation, view });
    }
    return view;
  }

  /** For sign-in: a tenant's SSO settings, without any viewer. */
  async forSignIn(id: string): Promise<Tenant | undefined> {
    const [row] = await this.db.select().from(tenants).where(eq(tenants.id, id));
    if (!row?.oidcClientSecret) return row;
    return { ...row, oidcClientSecret: this.secrets.open(row.oidcClientSecret, oidcSecretContext(id)) };
  }

  async exists(id: string): Promise<boolean> {
    const [row] = await this.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, id));
    return row !== undefined;
  }

  /** The index is read again after a change commits (and not before: a read meanwhile would keep the old rows). */
  private async afterCommit<T>(change: Promise<T>): Promise<T> {
    try {
      return await change;
    } finally {
      this.indexed = undefined;
      this.generation++;
    }
  }

  /** True when a tenant has this workspace. */
  async workspaceTaken(workspace: string): Promise<boolean> {
    const [row] = await this.db.select({ id: tenants.id }).from(tenants).where(eq(tenants.workspace, workspace));
    return row !== undefined;
  }

  async create(
    viewer: Viewer,
    input: z.input<typeof TenantCreate>,
    client: Client,
    /** What else was made with the tenant, for the audit entry. */
    extra: Record<string, unknown> = {},
  ): Promise<TenantView> {
    requirePlatformAdmin(viewer);
    const data = TenantCreate.parse(input);
    return this.afterCommit(
      this.db.transaction(async (tx) => {
        const [exists] = await tx.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, data.id));
        if (exists) throw new Conflict(`a tenant "${data.id}" already exists; choose another id`);
        const [row] = await tx
          .insert(tenants)
          .values({
            id: data.id,
            displayName: data.displayName,
            workspace: data.workspace ?? data.id,
            totpRequired: data.totpRequired ?? false,
          })
          .returning();
        await appendAudit(tx, {
          actor: viewer.email,
          tenantId: data.id,
          action: 'tenant.created',
          target: `tenant/${data.id}`,
          ip: client.ip,
          after: { ...data, ...extra },
        });
        return tenantView(row!, 0);
      }),
    );
  }

  async update(viewer: Viewer, id: string, input: z.input<typeof TenantUpdate>, client: Client): Promise<TenantView> {
    requireTenant(viewer, id, true);
    const patch = TenantUpdate.parse(input);
    return this.afterCommit(
      this.db.transaction(async (tx) => {
        const [before] = await tx.select().from(tenants).where(eq(tenants.id, id)).for('update');
        if (!before) throw new NotFound(`no tenant "${id}"`);
        const set: Partial<Tenant> = {};
        if (patch.displayName !== undefined) set.displayName = patch.displayName;
        if (patch.totpRequired !== undefined) set.totpRequired = patch.totpRequired;
        if (patch.roleMapping !== undefined) set.roleMapping = patch.roleMapping;
        if (patch.passwordPolicy !== undefined) set.passwordPolicy = patch.passwordPolicy;
        if (patch.saml !== undefined) set.saml = patch.saml;
        if (patch.oidc !== undefined) {
          if (patch.oidc === null) {
            set.oidc = null;
            set.oidcClientSecret = null;
          } else {
            const { clientSecret, ...oidc } = patch.oidc;
            set.oidc = oidc;
            if (clientSecret !== undefined)
              set.oidcClientSecret = this.secrets.seal(clientSecret, oidcSecretContext(id));
            // The stored secret was given for one provider: it is never sent to another issuer.
            else if (before.oidc?.issuer !== oidc.issuer) set.oidcClientSecret = null;
          }
        }
        const changed = Object.keys(set) as (keyof Tenant)[];
        if (changed.length === 0) {
          const [n] = await tx.select({ n: count() }).from(users).where(eq(users.tenantId, id));
          return tenantView(before, n?.n ?? 0);
        }
        const [after] = await tx.update(tenants).set(set).where(eq(tenants.id, id)).returning();
        await appendAudit(tx, {
          actor: viewer.email,
          tenantId: id,
          action: 'tenant.updated',
          target: `tenant/${id}`,
          ip: client.ip,
          before: Object.fromEntries(changed.map((k) => [k, before[k]])),
          after: Object.fromEntries(changed.map((k) => [k, after![k]])),
        });
        const [n] = await tx.select({ n: count() }).from(users).where(eq(users.tenantId, id));
        return tenantView(after!, n?.n ?? 0);
      }),
    );
  }

  /** Deletes the tenant and its people; the audit log keeps what they did. */
  async remove(viewer: Viewer, id: string, client: Client, extra: Record<string, unknown> = {}): Promise<void> {
    requirePlatformAdmin(viewer);
    await this.afterCommit(
      this.db.transaction(async (tx) => {
        const [before] = await tx.delete(tenants).where(eq(tenants.id, id)).returning();
        if (!before) throw new NotFound(`no tenant "${id}"`);
        await appendAudit(tx, {
          actor: viewer.email,
          tenantId: id,
          action: 'tenant.deleted',
          target: `tenant/${id}`,
          ip: client.ip,
          before: { displayName: before.displayName, workspace: before.workspace, ...extra },
        });
      }),
    );
  }

  async users(viewer: Viewer, tenantId: string | null): Promise<UserView[]> {
    if (tenantId === null) requirePlatformAdmin(viewer);
    else requireTenant(viewer, tenantId, false);
    const rows = await this.db
      .select()
      .from(users)
      .where(tenantId === null ? undefined : eq(users.tenantId, tenantId))
      .orderBy(asc(users.email));
    return rows.map(userView);
  }

  /** Adds a person with a one-time password they must change at first sign-in. */
  async createUser(
    viewer: Viewer,
    tenantId: string | null,
    input: z.input<typeof UserCreate>,
    client: Client,
  ): Promise<{ user: UserView; oneTimePassword: string }> {
    const data = UserCreate.parse(input);
    if (tenantId === null) requirePlatformAdmin(viewer);
    else requireTenant(viewer, tenantId, true);
    if (data.role === 'platform-admin' && tenantId !== null)
      throw new Forbidden('a platform administrator belongs to no tenant');
    const oneTimePassword = oneTimeSecret();
    const passwordHash = await hashPassword(oneTimePassword);
    const user = await this.db.transaction(async (tx) => {
      // Only this tenant's addresses count: whether another tenant has one is none of this tenant's business.
      const [exists] = await tx
        .select({ id: users.id })
        .from(users)
        .where(
          and(
            tenantId === null ? isNull(users.tenantId) : eq(users.tenantId, tenantId),
            sql`lower(${users.email}) = ${data.email.toLowerCase()}`,
          ),
        );
      if (exists)
        throw new Conflict(
          `${data.email} already has an account ${tenantId === null ? 'without a tenant' : `in tenant ${tenantId}`}`,
        );
      const [row] = await tx
        .insert(users)
        .values({
          id: randomUUID(),
          email: data.email,
          name: data.name ?? '',
          role: data.role,
          tenantId,
          passwordHash,
          passwordChangedAt: new Date(),
          mustChangePassword: true,
        })
        .returning();
      await appendAudit(tx, {
        actor: viewer.email,
        tenantId,
        action: 'user.created',
        target: `user/${row!.id}`,
        ip: client.ip,
        after: { email: data.email, role: data.role },
      });
      return row!;
    });
    this.indexed = undefined;
    this.generation++;
    return { user: userView(user), oneTimePassword };
  }

  /**
   * Every tenant's id, name, workspace, creation time, sign-in settings and
   * number of people, for the overview (which sorts and filters them by
   * their workspaces' health in memory).
   * Read at most every 5 s: this console's own changes are seen at once,
   * another replica's within 5 s.
   */
  async index(): Promise<TenantIndex> {
    if (this.indexed && Date.now() - this.indexed.at < 5_000) return this.indexed.index;
    const generation = this.generation;
    const [list, counts] = await Promise.all([
      this.db
        .select({
          id: tenants.id,
          displayName: tenants.displayName,
          workspace: tenants.workspace,
          createdAt: tenants.createdAt,
          oidc: sql<boolean>`${tenants.oidc} is not null`,
          saml: sql<boolean>`${tenants.saml} is not null`,
          totpRequired: tenants.totpRequired,
        })
        .from(tenants),
      this.db.select({ tenantId: users.tenantId, n: count() }).from(users).groupBy(users.tenantId),
    ]);
    const people = new Map(counts.map((c) => [c.tenantId, c.n]));
    const rows = list.map((r) => ({ ...r, users: people.get(r.id) ?? 0 }));
    const index = { rows, workspaces: new Set(rows.map((r) => r.workspace)) };
    if (generation === this.generation) this.indexed = { at: Date.now(), index };
    return index;
  }

  /** Every tenant's workspace name: the rest of the cluster's Workspaces have no tenant yet. */
  async workspaceNames(viewer: Viewer): Promise<ReadonlySet<string>> {
    requirePlatformAdmin(viewer);
    return (await this.index()).workspaces;
  }

  /** E-mail addresses by user id, for showing audit entries; ids of deleted users are absent. */
  async emailsOf(ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .select({ id: users.id, email: users.email })
      .from(users)
      .where(inArray(users.id, [...new Set(ids)]));
    return new Map(rows.map((r) => [r.id, r.email]));
  }

  async unlockUser(viewer: Viewer, userId: string, client: Client): Promise<void> {
    const [user] = await this.db.select().from(users).where(eq(users.id, userId));
    if (!user) throw new NotFound('no such user');
    if (user.tenantId === null) requirePlatformAdmin(viewer);
    else requireTenant(viewer, user.tenantId, true);
    await this.db.transaction(async (tx) => {
      await tx
        .update(users)
        .set({ failedSignIns: 0, lockedUntil: null })
        .where(and(eq(users.id, userId)));
      await appendAudit(tx, {
        actor: viewer.email,
        tenantId: user.tenantId,
        action: 'user.unlocked',
        target: `user/${userId}`,
        ip: client.ip,
        before: { lockedUntil: user.lockedUntil?.toISOString() ?? null },
      });
    });
  }
}

export class Conflict extends Error {
  override name = 'Conflict';
  readonly statusCode = 409;
}

/** 20 characters from an alphabet without look-alikes, with every class the policy asks for. */
export function oneTimeSecret(): string {
  const sets = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnpqrstuvwxyz', '23456789'];
  const all = sets.join('');
  const chars = [...randomBytes(20)].map(
    (b, i) => (i < 3 ? sets[i]! : all)[b % (i < 3 ? sets[i]!.length : all.length)]!,
  );
  return chars.join('');
}

/** What a tenant's sealed OIDC client secret is bound to. */
export const oidcSecretContext = (tenantId: string): string => `oidc-client-secret:${tenantId}`;
