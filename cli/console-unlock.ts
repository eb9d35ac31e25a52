// holdfast console unlock EMAIL: lifts the lockout of a platform
// administrator from inside the console's pod, for when no other
// administrator can sign in to do it.
import path from 'node:path';

export async function unlock(args: string[]): Promise<number> {
  const [email, ...rest] = args;
  if (!email || rest.length > 0) {
    process.stderr.write('usage: holdfast console unlock EMAIL\n');
    return 2;
  }
  const { openDatabase } = await import('../console/db/client.js');
  const { unlockPlatformAccount } = await import('../console/tenants/unlock.js');
  const database = await openDatabase({
    url: process.env.DATABASE_URL,
    dataDir: process.env.HOLDFAST_CONSOLE_DATA ?? path.resolve('.holdfast/console-data'),
  });
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
