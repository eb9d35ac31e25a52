// holdfast console: serve the admin console; `holdfast console unlock EMAIL`
// lifts a platform administrator's lockout from inside the pod, and
// `holdfast console reset-admin` gives the first administrator a new one-time
// password while it has not used the one printed at first start.
export async function run(args: string[] = []): Promise<number | undefined> {
  if (args[0] === 'unlock') {
    const { unlock } = await import('./console-unlock.js');
    return unlock(args.slice(1));
  }
  if (args[0] === 'reset-admin') {
    const { resetAdmin } = await import('./console-unlock.js');
    return resetAdmin(args.slice(1));
  }
  // React and Remix pick their production builds from this; development builds are several times slower.
  process.env.NODE_ENV ??= 'production';
  const { runConsole } = await import('../console/main.js');
  await runConsole();
  return undefined;
}
