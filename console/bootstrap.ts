// The first platform administrator. There is no default password: the start
// that creates the account makes a one-time password and prints it once.
// Later starts do not print it again (logs are kept and shipped; a password
// in every restart's log is a password in many places); they say that it is
// still unused, and `holdfast console reset-admin` makes a new one from the
// console's pod for whoever lost the first.
import { randomBytes, randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { appendAudit } from './audit/log.js';
import { hashPassword } from './auth/passwords.js';
import type { ConsoleDb } from './db/client.js';
import { settings, users } from './db/schema.js';
import { oneTimeSecret } from './tenants/service.js';

export interface Bootstrap {
  email: string;
  /** Present when this start created the administrator, and only then. */
  oneTimePassword?: string;
  /** The administrator has not yet signed in with its one-time password. */
  pending: boolean;
}

/** HOLDFAST_ADMIN_EMAIL: the first platform administrator. */
export const adminEmail = (): string => process.env.HOLDFAST_ADMIN_EMAIL || 'admin@holdfast.local';

/** What a start says about the first administrator: its password on the start that made it, a reminder after. */
export function bootstrapNotice(boot: Bootstrap): string | undefined {
  if (boot.oneTimePassword)
    return `holdfast console: sign in as ${boot.email} with the one-time password ${boot.oneTimePassword}`;
  if (boot.pending)
    return (
      `holdfast console: ${boot.email} has not yet signed in with the one-time password printed when it was made; ` +
      'if that password is lost, run `holdfast console reset-admin` in the console pod for a new one'
    );
  return undefined;
}

const BOOTSTRAP_LOCK = 0x626f6f74;

type Tx = Parameters<Parameters<ConsoleDb['transaction']>[0]>[0];

/** The first administrator of `email` while it still has its one-time password. */
async function pendingAdmin(tx: Tx, email: string) {
  const [pending] = await tx
    .select()
    .from(users)
    .where(
      sql`lower(${users.email}) = ${email.toLowerCase()} and ${users.tenantId} is null and ${users.mustChangePassword} and ${users.lastSignInAt} is null and ${users.role} = 'platform-admin'`,
    );
  return pending;
}

export async function bootstrapAdmin(db: ConsoleDb, email: string): Promise<Bootstrap> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`);
    const [admin] = await tx.select().from(users).where(eq(users.role, 'platform-admin')).limit(1);
    if (admin) {
      const pending = await pendingAdmin(tx, email);
      return { email: pending?.email ?? admin.email, pending: pending !== undefined };
    }
    const oneTimePassword = oneTimeSecret();
    const id = randomUUID();
    await tx.insert(users).values({
      id,
      email,
      name: 'Platform administrator',
      role: 'platform-admin',
      passwordHash: await hashPassword(oneTimePassword),
      passwordChangedAt: new Date(),
      mustChangePassword: true,
    });
    await appendAudit(tx, {
      actor: 'console',
      action: 'bootstrap.admin-created',
      target: `user/${id}`,
      ip: 'local',
      after: { email, role: 'platform-admin' },
    });
    return { email, oneTimePassword, pending: true };
  });
}

/**
 * A new one-time password for the first administrator, while it has not yet
 * signed in with the one it was given; undefined once it has (then it signs
 * in with its own password, or is unlocked with `holdfast console unlock`).
 */
export async function resetBootstrapPassword(
  db: ConsoleDb,
  email: string,
): Promise<{ email: string; oneTimePassword: string } | undefined> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`);
    const pending = await pendingAdmin(tx, email);
    if (!pending) return undefined;
    const oneTimePassword = oneTimeSecret();
    const passwordHash = await hashPassword(oneTimePassword);
    await tx.update(users).set({ passwordHash, passwordChangedAt: new Date() }).where(eq(users.id, pending.id));
    await appendAudit(tx, {
      actor: 'console',
      action: 'bootstrap.password-replaced',
      target: `user/${pending.id}`,
      ip: 'local',
    });
    return { email: pending.email, oneTimePassword };
  });
}

/** The key that signs CSRF tokens, shared by every console replica through the database. */
export async function csrfKey(db: ConsoleDb): Promise<Buffer> {
  const fresh = randomBytes(32).toString('base64');
  await db.insert(settings).values({ key: 'csrf-key', value: fresh }).onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, 'csrf-key'));
  return Buffer.from(row!.value as string, 'base64');
}
