// Unlocking an account of no tenant (a platform administrator, a cluster-wide
// auditor) from the command line, audited like an unlock in the console.
import { and, eq, isNull, sql } from 'drizzle-orm';
import { appendAudit } from '../audit/log.js';
import type { ConsoleDb } from '../db/client.js';
import { users, type User } from '../db/schema.js';

export async function unlockPlatformAccount(db: ConsoleDb, email: string): Promise<User | undefined> {
  return db.transaction(async (tx) => {
    const [user] = await tx
      .select()
      .from(users)
      .where(and(isNull(users.tenantId), sql`lower(${users.email}) = ${email.trim().toLowerCase()}`));
    if (!user) return undefined;
    await tx.update(users).set({ failedSignIns: 0, lockedUntil: null }).where(eq(users.id, user.id));
    await appendAudit(tx, {
      actor: 'holdfast console unlock',
      action: 'user.unlocked',
      target: `user/${user.id}`,
      ip: 'local',
      before: { lockedUntil: user.lockedUntil?.toISOString() ?? null },
    });
    return user;
  });
}
