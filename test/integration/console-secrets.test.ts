// What the console keeps and must read back (TOTP seeds, OIDC client secrets,
// the audit signing key it made) is sealed in its database under
// HOLDFAST_SECRETS_KEY: a copy of the database gives none of it away, a
// console from before sealing has its values sealed at the next start, a key
// is rotated by listing the new one first, and a console given the wrong key
// refuses to start rather than lose them. Console database: a real PostgreSQL.
import { eq } from 'drizzle-orm';
import { generate } from 'otplib';
import pino from 'pino';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../console/auth/passwords.js';
import { newTotpSecret } from '../../console/auth/totp.js';
import { openDatabase, rootCertificate } from '../../console/db/client.js';
import { users } from '../../console/db/schema.js';
import { assembleConsole, secretsKey } from '../../console/main.js';
import { SecretBox } from '../../console/secret-box.js';
import { DEFAULT_SETTINGS } from '../../console/services.js';
import { bootstrapAdmin } from '../../console/bootstrap.js';
import { TEST_CLIENT, freshPostgresDatabase, stopConsolePostgres, strongPassword } from '../harness/console.js';

const log = pino({ level: 'silent' });

async function consoleOn(url: string, key: string) {
  const database = await openDatabase({ url });
  try {
    const { app, services } = await assembleConsole({
      database,
      settings: { ...DEFAULT_SETTINGS, secureCookies: false },
      secrets: SecretBox.parse(key),
      log,
    });
    return { services, stop: async () => (await app.close(), await database.close()) };
  } catch (err) {
    await database.close();
    throw err;
  }
}

async function connect(given: string) {
  const { url, ssl } = await rootCertificate(given);
  return postgres(url, { max: 1, onnotice: () => undefined, ...(ssl ? { ssl } : {}) });
}

/** The rows as whoever holds a copy of the database reads them. */
async function stored(given: string) {
  const sql = await connect(given);
  try {
    const [user] = await sql`select id, totp_secret from users where email = 'kept@holdfast.test'`;
    const [tenant] = await sql`select oidc_client_secret from tenants where id = 'acme'`;
    const [key] = await sql`select value from settings where key = 'audit-signing-key'`;
    return {
      userId: user!.id as string,
      totp: user!.totp_secret as string,
      oidc: tenant!.oidc_client_secret as string,
      auditKey: key!.value as string,
    };
  } finally {
    await sql.end();
  }
}

describe('secrets the console keeps', () => {
  afterAll(stopConsolePostgres);

  it('are sealed in the database, opened only with HOLDFAST_SECRETS_KEY, and rotated by listing the new key first', async () => {
    const db = await freshPostgresDatabase(true);
    try {
      const keyA = SecretBox.generateKey();
      let c = await consoleOn(db.url, keyA);
      const boot = await bootstrapAdmin(c.services.database.db, 'root@holdfast.test');
      const [root] = await c.services.database.db.select().from(users).where(eq(users.email, boot.email));
      const admin = { id: root!.id, email: root!.email, name: root!.name, role: root!.role, tenantId: null };
      await c.services.tenants.create(admin, { id: 'acme', displayName: 'Acme' }, TEST_CLIENT);
      await c.services.tenants.update(
        admin,
        'acme',
        { oidc: { issuer: 'https://login.acme.test', clientId: 'holdfast', clientSecret: 'oidc-client-secret-value' } },
        TEST_CLIENT,
      );
      // A person turns TOTP on from /account, as the console's own flow does.
      const password = strongPassword();
      const { user } = await c.services.tenants.createUser(
        admin,
        'acme',
        { email: 'kept@holdfast.test', role: 'auditor' },
        TEST_CLIENT,
      );
      await c.services.database.db
        .update(users)
        .set({ passwordHash: await hashPassword(password), mustChangePassword: false })
        .where(eq(users.id, user.id));
      const signedIn = await c.services.signIn.password('kept@holdfast.test', password, TEST_CLIENT);
      if (!signedIn.ok) throw new Error(signedIn.message);
      const seed = newTotpSecret();
      const [person] = await c.services.database.db.select().from(users).where(eq(users.id, user.id));
      const enrolled = await c.services.signIn.enrolTotp(
        person!,
        seed,
        await generate({ secret: seed }),
        TEST_CLIENT,
        signedIn.token,
        password,
      );
      expect(enrolled.ok).toBe(true);
      const auditKey = await c.services.audit.publicKey();

      let rows = await stored(db.url);
      expect(rows.totp).toMatch(/^hf1:[0-9a-f]{8}:/);
      expect(rows.totp).not.toContain(seed);
      expect(rows.oidc).toMatch(/^hf1:/);
      expect(rows.oidc).not.toContain('oidc-client-secret-value');
      expect(rows.auditKey).toMatch(/^hf1:/);
      expect(rows.auditKey).not.toContain('PRIVATE KEY');
      expect((await c.services.tenants.forSignIn('acme'))!.oidcClientSecret).toBe('oidc-client-secret-value');
      await c.stop();

      // As a console from before sealing left them: in the clear. The next start seals them.
      const sql = await connect(db.url);
      await sql`update users set totp_secret = ${seed} where id = ${rows.userId}`;
      await sql`update tenants set oidc_client_secret = 'oidc-client-secret-value' where id = 'acme'`;
      await sql.end();
      c = await consoleOn(db.url, keyA);
      rows = await stored(db.url);
      expect(rows.totp).toMatch(/^hf1:/);
      expect(rows.oidc).toMatch(/^hf1:/);
      expect((await c.services.tenants.forSignIn('acme'))!.oidcClientSecret).toBe('oidc-client-secret-value');
      await c.stop();

      // Rotation: the new key first, the old one after it; the start reseals everything under the new one.
      const keyB = SecretBox.generateKey();
      c = await consoleOn(db.url, `${keyB},${keyA}`);
      await c.stop();
      const rotated = await stored(db.url);
      const newest = SecretBox.parse(keyB);
      for (const v of [rotated.totp, rotated.oidc, rotated.auditKey]) expect(newest.isCurrent(v)).toBe(true);

      // The old key can go: the TOTP code of the person's app still signs them in, the audit key is the same.
      c = await consoleOn(db.url, keyB);
      const first = await c.services.signIn.password('kept@holdfast.test', password, TEST_CLIENT);
      expect(first).toMatchObject({ ok: true, stage: 'second-factor' });
      const [again] = await c.services.database.db.select().from(users).where(eq(users.id, user.id));
      // A code of the next 30 s step: the one used at enrolment cannot be used twice.
      const next = await generate({ secret: seed, epoch: Math.floor(Date.now() / 1000) + 30 });
      const second = await c.services.signIn.secondFactor(again!, next, TEST_CLIENT, first.ok ? first.token : '');
      expect(second).toMatchObject({ ok: true, stage: 'active' });
      expect(await c.services.audit.publicKey()).toBe(auditKey);
      await c.stop();

      // Only the old key (or a wrong one): the console does not start, and says which key it needs.
      await expect(consoleOn(db.url, keyA)).rejects.toThrow(
        /sealed under key [0-9a-f]{8}, which HOLDFAST_SECRETS_KEY does not hold/,
      );
      expect(await stored(db.url)).toEqual(rotated);
    } finally {
      await db.drop();
    }
  });

  it('must be given a key on an external database; on the embedded one it is made once, readable by its owner only', async () => {
    await expect(
      secretsKey({ DATABASE_URL: 'postgres://console@db.example/holdfast' }, '/nonexistent', log),
    ).rejects.toThrow('HOLDFAST_SECRETS_KEY is not set');
    const { mkdtemp, rm, stat } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(tmpdir(), 'holdfast-secrets-'));
    try {
      const dataDir = path.join(dir, 'console-data');
      const made = await secretsKey({}, dataDir, log);
      const sealed = made.seal('x', 'c');
      expect((await stat(`${dataDir}.secrets-key`)).mode & 0o777).toBe(0o600);
      expect((await secretsKey({}, dataDir, log)).open(sealed, 'c')).toBe('x');
      await expect(secretsKey({ HOLDFAST_SECRETS_KEY: 'short' }, dataDir, log)).rejects.toThrow(
        'key 1 is not 32 bytes in base64',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
