// holdfast console: serve the admin console.
export async function run(): Promise<undefined> {
  // React and Remix pick their production builds from this; development builds are several times slower.
  process.env.NODE_ENV ??= 'production';
  const { runConsole } = await import('../console/main.js');
  await runConsole();
  return undefined;
}
