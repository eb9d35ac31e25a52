// Progressive lockout after failed sign-ins, for accounts and for addresses
// that have none. Both lock on the same schedule and with the same words, so
// a lock says nothing about whether an account exists.
import { eq, sql } from 'drizzle-orm';
import type { ConsoleDb } from '../db/client.js';
import { signInThrottle } from '../db/schema.js';

export interface Lockout {
  /** Failures in a row before the first lock. */
  threshold: number;
  /** The first lock; each further failure doubles it, up to `maxMs`. */
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_LOCKOUT: Lockout = { threshold: 5, baseMs: 60_000, maxMs: 24 * 3_600_000 };

export function lockDuration(failures: number, lockout: Lockout): number {
  if (failures < lockout.threshold) return 0;
  return Math.min(lockout.baseMs * 2 ** (failures - lockout.threshold), lockout.maxMs);
}

export function isLocked(lockedUntil: Date | null, now = Date.now()): lockedUntil is Date {
  return lockedUntil !== null && lockedUntil.getTime() > now;
}

/** The same words whether or not an account stands behind the address. */
export function lockedMessage(lockedUntil: Date): string {
  return `Too many failed sign-ins with this e-mail address: signing in with it is paused until ${lockedUntil.toISOString().slice(11, 16)} UTC. Try again then, or ask an administrator.`;
}

/** Failure counts of addresses without an account, keyed by an HMAC of the address. */
export class AddressThrottle {
  constructor(
    private readonly db: ConsoleDb,
    private readonly lockout: Lockout,
  ) {}

  async lockedUntil(keyHash: string): Promise<Date | null> {
    const [row] = await this.db.select().from(signInThrottle).where(eq(signInThrottle.keyHash, keyHash));
    // A quiet day forgets an address, as a successful sign-in resets an account.
    if (!row || Date.now() - row.lastFailureAt.getTime() > this.lockout.maxMs) return null;
    return isLocked(row.lockedUntil) ? row.lockedUntil : null;
  }

  /** Counts one failure; returns the lock it caused, if any. */
  async fail(keyHash: string): Promise<Date | null> {
    const [row] = await this.db
      .insert(signInThrottle)
      .values({ keyHash, failures: 1 })
      .onConflictDoUpdate({
        target: signInThrottle.keyHash,
        set: {
          failures: sql`case when ${signInThrottle.lastFailureAt} < now() - make_interval(secs => ${this.lockout.maxMs / 1000}) then 1 else ${signInThrottle.failures} + 1 end`,
          lastFailureAt: sql`now()`,
        },
      })
      .returning({ failures: signInThrottle.failures });
    const lockMs = lockDuration(row?.failures ?? 1, this.lockout);
    if (lockMs === 0) return null;
    const lockedUntil = new Date(Date.now() + lockMs);
    await this.db.update(signInThrottle).set({ lockedUntil }).where(eq(signInThrottle.keyHash, keyHash));
    return lockedUntil;
  }
}
