// Brings every secret the console keeps under the newest HOLDFAST_SECRETS_KEY:
// values stored in the clear by a console from before sealing existed, and
// values sealed under a key that is being retired. Runs at start, in one
// transaction, before anything reads them.
import { eq, isNotNull } from 'drizzle-orm';
import { AUDIT_KEY_SETTING } from './audit/signing-key.js';
import { totpContext } from './auth/sign-in.js';
import type { ConsoleDb } from './db/client.js';
import { settings, tenants, users } from './db/schema.js';
import { SecretBox } from './secret-box.js';
import { oidcSecretContext } from './tenants/service.js';

/** The number of values sealed anew. */
export async function resealSecrets(db: ConsoleDb, box: SecretBox): Promise<number> {
  const reseal = (value: string, context: string): string | undefined => {
    if (box.isCurrent(value)) return undefined;
    return box.seal(SecretBox.isSealed(value) ? box.open(value, context) : value, context);
  };
  return db.transaction(async (tx) => {
    let count = 0;
    for (const u of await tx
      .select({ id: users.id, totpSecret: users.totpSecret })
      .from(users)
      .where(isNotNull(users.totpSecret))) {
      const sealed = reseal(u.totpSecret!, totpContext(u.id));
      if (sealed === undefined) continue;
      await tx.update(users).set({ totpSecret: sealed }).where(eq(users.id, u.id));
      count++;
    }
    for (const t of await tx
      .select({ id: tenants.id, secret: tenants.oidcClientSecret })
      .from(tenants)
      .where(isNotNull(tenants.oidcClientSecret))) {
      const sealed = reseal(t.secret!, oidcSecretContext(t.id));
      if (sealed === undefined) continue;
      await tx.update(tenants).set({ oidcClientSecret: sealed }).where(eq(tenants.id, t.id));
      count++;
    }
    const [key] = await tx.select().from(settings).where(eq(settings.key, AUDIT_KEY_SETTING));
    const sealed = typeof key?.value === 'string' ? reseal(key.value, AUDIT_KEY_SETTING) : undefined;
    if (sealed !== undefined) {
      await tx.update(settings).set({ value: sealed }).where(eq(settings.key, AUDIT_KEY_SETTING));
      count++;
    }
    return count;
  });
}
