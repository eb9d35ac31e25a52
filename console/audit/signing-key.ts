// The installation's audit signing key. From HOLDFAST_AUDIT_SIGNING_KEY (a
// Kubernetes Secret) when set: then whoever can write the console database
// still cannot sign a rewritten log. Otherwise made once and kept in the
// database (sealed under HOLDFAST_SECRETS_KEY), shared by every replica,
// which still proves an export was not changed after it left the console.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { ConsoleDb } from '../db/client.js';
import { settings } from '../db/schema.js';
import type { SecretBox } from '../secret-box.js';
import { parsePrivateKey } from './head.js';

export const AUDIT_KEY_SETTING = 'audit-signing-key';

export async function auditSigningKey(
  db: ConsoleDb,
  fromEnvironment: string | undefined,
  secrets: SecretBox,
): Promise<KeyObject> {
  if (fromEnvironment) return parsePrivateKey(fromEnvironment, 'HOLDFAST_AUDIT_SIGNING_KEY');
  const fresh = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await db
    .insert(settings)
    .values({ key: AUDIT_KEY_SETTING, value: secrets.seal(fresh, AUDIT_KEY_SETTING) })
    .onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, AUDIT_KEY_SETTING));
  const pem = secrets.open(row!.value as string, AUDIT_KEY_SETTING);
  return parsePrivateKey(pem, `the setting "${AUDIT_KEY_SETTING}" in the console database`);
}
