// The installation's audit signing key. From HOLDFAST_AUDIT_SIGNING_KEY (a
// Kubernetes Secret) when set: then whoever can write the console database
// still cannot sign a rewritten log. Otherwise made once and kept in the
// database, shared by every replica, which still proves an export was not
// changed after it left the console.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { ConsoleDb } from '../db/client.js';
import { settings } from '../db/schema.js';
import { parsePrivateKey } from './head.js';

const SETTING = 'audit-signing-key';

export async function auditSigningKey(db: ConsoleDb, fromEnvironment: string | undefined): Promise<KeyObject> {
  if (fromEnvironment) return parsePrivateKey(fromEnvironment, 'HOLDFAST_AUDIT_SIGNING_KEY');
  const fresh = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await db.insert(settings).values({ key: SETTING, value: fresh }).onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, SETTING));
  return parsePrivateKey(row!.value as string, `the setting "${SETTING}" in the console database`);
}
