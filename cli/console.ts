// holdfast console: serve the admin console; `holdfast console unlock EMAIL`
// lifts a platform administrator's lockout from inside the pod.
export async function run(args: string[] = []): Promise<number | undefined> {
  if (args[0] === 'unlock') {
    const { unlock } = await import('./console-unlock.js');
    return unlock(args.slice(1));
  }
  // React and Remix pick their production builds from this; development builds are several times slower.
  process.env.NODE_ENV ??= 'production';
  const { runConsole } = await import('../console/main.js');
  await runConsole();
  return undefined;
}
