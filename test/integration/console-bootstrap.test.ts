// The first administrator's one-time password: printed by the start that
// makes it and never again; `holdfast console reset-admin` makes a new one
// from the pod while it is unused. Console database: embedded PGlite, as a
// console without DATABASE_URL keeps it.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { verifyPassword } from '../../console/auth/passwords.js';
import { bootstrapAdmin, bootstrapNotice } from '../../console/bootstrap.js';
import { openDatabase } from '../../console/db/client.js';
import { auditLog, users } from '../../console/db/schema.js';

const EMAIL = 'root@holdfast.test';

/** `holdfast console <args>` on the data directory, as run in the console's pod. */
function holdfastConsole(dataDir: string, ...args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'npx',
      ['tsx', 'cli/main.ts', 'console', ...args],
      {
        cwd: path.resolve(import.meta.dirname, '../..'),
        env: { ...process.env, HOLDFAST_CONSOLE_DATA: dataDir, HOLDFAST_ADMIN_EMAIL: EMAIL },
      },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the first administrator', () => {
  it(
    'gets its one-time password printed once; later starts only say it is unused and how to get a new one',
    { timeout: 300_000 },
    async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'holdfast-bootstrap-'));
      try {
        let database = await openDatabase({ dataDir });
        const first = await bootstrapAdmin(database.db, EMAIL);
        expect(first.oneTimePassword).toMatch(/^[A-Za-z2-9]{20}$/);

        // A restart before the administrator signed in: no password in its output, and the printed one still works.
        const again = await bootstrapAdmin(database.db, EMAIL);
        expect(again.oneTimePassword).toBeUndefined();
        expect(bootstrapNotice(first)).toBe(
          `holdfast console: sign in as ${EMAIL} with the one-time password ${first.oneTimePassword}`,
        );
        const notice = bootstrapNotice(again)!;
        expect(notice).toContain(`${EMAIL} has not yet signed in with the one-time password`);
        expect(notice).toContain('holdfast console reset-admin');
        expect(notice).not.toContain(first.oneTimePassword!);
        const stored = async () => (await database.db.select().from(users).where(eq(users.email, EMAIL)))[0]!;
        expect(await verifyPassword((await stored()).passwordHash!, first.oneTimePassword!)).toBe(true);
        await database.close();

        // Lost it: a new one from the pod, and the old one stops working.
        const reset = await holdfastConsole(dataDir, 'reset-admin');
        expect(reset).toMatchObject({ code: 0 });
        const replaced = /^sign in as root@holdfast\.test with the one-time password ([A-Za-z2-9]{20})$/m.exec(
          reset.stdout,
        );
        expect(replaced, reset.stdout + reset.stderr).not.toBeNull();
        database = await openDatabase({ dataDir });
        expect(await verifyPassword((await stored()).passwordHash!, replaced![1]!)).toBe(true);
        expect(await verifyPassword((await stored()).passwordHash!, first.oneTimePassword!)).toBe(false);
        const audited = await database.db
          .select()
          .from(auditLog)
          .where(eq(auditLog.action, 'bootstrap.password-replaced'));
        expect(audited).toHaveLength(1);

        // Once the administrator has signed in and chosen a password, starts say nothing and reset-admin refuses.
        await database.db
          .update(users)
          .set({ mustChangePassword: false, lastSignInAt: new Date() })
          .where(eq(users.email, EMAIL));
        expect(bootstrapNotice(await bootstrapAdmin(database.db, EMAIL))).toBeUndefined();
        await database.close();
        const refused = await holdfastConsole(dataDir, 'reset-admin');
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain(`${EMAIL} is not a first administrator waiting for its first sign-in`);
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  );
});
