// The first platform administrator. There is no default password: at first
// start the console makes a one-time password and prints it once. Until that
// account has signed in and chosen its own password, every start replaces
// the one-time password (so a lost log line is not a lost console).
import { randomBytes, randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { appendAudit } from './audit/log.js';
import { hashPassword } from './auth/passwords.js';
import type { ConsoleDb } from './db/client.js';
import { settings, users } from './db/schema.js';
import { oneTimeSecret } from './tenants/service.js';

export interface Bootstrap {
  email: string;
  /** Present when a new one-time password was made by this start. */
  oneTimePassword?: string;
}

export async function bootstrapAdmin(db: ConsoleDb, email: string): Promise<Bootstrap> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${0x626f6f74})`);
    const [admin] = await tx.select().from(users).where(eq(users.role, 'platform-admin')).limit(1);
    const [pending] = await tx
      .select()
      .from(users)
      .where(
        sql`lower(${users.email}) = ${email.toLowerCase()} and ${users.mustChangePassword} and ${users.lastSignInAt} is null and ${users.role} = 'platform-admin'`,
      );
    if (admin && !pending) return { email: admin.email };
    const oneTimePassword = oneTimeSecret();
    const passwordHash = await hashPassword(oneTimePassword);
    if (pending) {
      await tx.update(users).set({ passwordHash, passwordChangedAt: new Date() }).where(eq(users.id, pending.id));
      await appendAudit(tx, {
        actor: 'console',
        action: 'bootstrap.password-replaced',
        target: `user/${pending.id}`,
        ip: 'local',
      });
    } else {
      const id = randomUUID();
      await tx.insert(users).values({
        id,
        email,
        name: 'Platform administrator',
        role: 'platform-admin',
        passwordHash,
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
    }
    return { email, oneTimePassword };
  });
}

/** The key that signs CSRF tokens, shared by every console replica through the database. */
export async function csrfKey(db: ConsoleDb): Promise<Buffer> {
  const fresh = randomBytes(32).toString('base64');
  await db.insert(settings).values({ key: 'csrf-key', value: fresh }).onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, 'csrf-key'));
  return Buffer.from(row!.value as string, 'base64');
}
