#!/usr/bin/env node
// The one `holdfast` entry point, so that every job runs the operator's own
// image. Each subcommand is a small module that calls into its program; it is
// loaded only when named, so `holdfast operator` never loads the console.
const commands: Record<
  string,
  { usage: string; load: () => Promise<{ run(args: string[]): Promise<number | undefined> }> }
> = {
  operator: { usage: 'operator', load: () => import('./operator.js') },
  console: { usage: 'console [unlock EMAIL | reset-admin]', load: () => import('./console.js') },
  crds: { usage: 'crds', load: () => import('./crds.js') },
  audit: { usage: 'audit verify FILE [--public-key KEY]', load: () => import('./audit.js') },
  backup: { usage: 'backup [--config FILE] [--no-prune]', load: () => import('./backup.js') },
  export: { usage: 'export [--config FILE]', load: () => import('./export.js') },
  restore: { usage: 'restore [--config FILE] --restore NAME', load: () => import('./restore.js') },
  verify: { usage: 'verify [--config FILE] [--backup NAME] [--destination NAME]', load: () => import('./verify.js') },
};

const [name = '', ...args] = process.argv.slice(2);
const command = commands[name];
if (!command) {
  process.stderr.write(
    `usage: holdfast <${Object.values(commands)
      .map((c) => c.usage)
      .join(' | ')}>\n`,
  );
  process.exit(2);
}
const code = await (await command.load()).run(args);
// A one-shot command returns its exit code; a server returns undefined once
// it is serving, and its own signal handlers end the process.
if (code !== undefined) process.exit(code);
