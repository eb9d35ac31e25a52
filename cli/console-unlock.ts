// holdfast console unlock EMAIL: lifts the lockout of a platform
// administrator from inside the console's pod, for when no other
// administrator can sign in to do it. holdfast console reset-admin: a new
// one-time password for the first administrator (HOLDFAST_ADMIN_EMAIL)
// while the one printed at first start is unused.
import path from 'node:path';

const openConsoleDatabase = async () => {
  const { openDatabase } = await import('../console/db/client.js');
  return openDatabase({
    url: process.env.DATABASE_URL,
    dataDir: process.env.HOLDFAST_CONSOLE_DATA ?? path.resolve('.holdfast/console-data'),
  });
};

export async function unlock(args: string[]): Promise<number> {
  const [email, ...rest] = args;
  if (!email || rest.length > 0) {
    process.stderr.write('usage: holdfast console unlock EMAIL\n');
    return 2;
  }
  const { unlockPlatformAccount } = await import('../console/tenants/unlock.js');
  const database = await openConsoleDatabase();
  try {
    const unlocked = await unlockPlatformAccount(database.db, email);
    if (!unlocked) {
      process.stderr.write(
        `no account without a tenant has the address ${email}; tenant accounts are unlocked by their tenant's admin in the console\n`,
      );
      return 1;
    }
    process.stdout.write(`unlocked ${unlocked.email}; the next sign-in starts with no failures counted\n`);
    return 0;
  } finally {
    await database.close();
  }
}

export async function resetAdmin(args: string[]): Promise<number> {
  if (args.length > 0) {
    process.stderr.write('usage: holdfast console reset-admin (the account is HOLDFAST_ADMIN_EMAIL)\n');
    return 2;
  }
  const { adminEmail, resetBootstrapPassword } = await import('../console/bootstrap.js');
  const database = await openConsoleDatabase();
  try {
    const reset = await resetBootstrapPassword(database.db, adminEmail());
    if (!reset) {
      process.stderr.write(
        `${adminEmail()} is not a first administrator waiting for its first sign-in; ` +
          'it signs in with its own password (a lockout is lifted with `holdfast console unlock EMAIL`)\n',
      );
      return 1;
    }
    process.stdout.write(`sign in as ${reset.email} with the one-time password ${reset.oneTimePassword}\n`);
    return 0;
  } finally {
    await database.close();
  }
}
