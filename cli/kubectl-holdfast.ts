#!/usr/bin/env node
// kubectl-holdfast: the kubectl plugin (`kubectl holdfast …`) for the people
// who run Holdfast from a terminal. It reads and asks through the apiserver
// with the caller's own kubeconfig and rights, as kubectl does; `decrypt`
// needs no cluster at all.
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { Rest } from '../kube/rest.js';
import { decryptArtifact } from './kubectl/decrypt.js';
import { restore } from './kubectl/restore.js';
import { backupNow, listBackups, status } from './kubectl/workspace.js';

const USAGE = `kubectl holdfast: Holdfast workspaces from kubectl

  kubectl holdfast status WORKSPACE          conditions, backups, recovery point, drills, certificate
  kubectl holdfast backups WORKSPACE         the workspace's backups, newest first
  kubectl holdfast backup now WORKSPACE      take a backup now and follow it (--detach: only ask for it)
  kubectl holdfast restore WORKSPACE --backup NAME | --before TIME [--to-new-database NAME]
                                             restore the workspace's database in place to a backup (or
                                             the newest good one before TIME), after a safety backup of
                                             what it replaces; or into a new database NAME beside it,
                                             which stays as it is; follows it (--detach: only ask for it)
  kubectl holdfast restore WORKSPACE --point-in-time TIME
                                             CloudNativePG with a WAL archive: recover the database as it
                                             was at TIME into a new Cluster beside the workspace's
  kubectl holdfast decrypt ARTIFACT -i FILE  decrypt a backup artifact (.dump.age) with an age identity
                                             file, no age CLI needed; -o OUT (default: ARTIFACT without
                                             .age; "-" for standard output, e.g. into pg_restore)

Options: --context NAME (a kubeconfig context; KUBECONFIG is read as kubectl reads it)
`;

class UsageError extends Error {}

function kube(context: string | undefined): Rest {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  if (context) {
    if (!kc.getContexts().some((c) => c.name === context))
      throw new UsageError(`no context "${context}" in the kubeconfig (kubectl config get-contexts lists them)`);
    kc.setCurrentContext(context);
  }
  return new Rest(kc);
}

async function main(argv: string[]): Promise<number> {
  const out = process.stdout;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        context: { type: 'string' },
        identity: { type: 'string', short: 'i', multiple: true },
        output: { type: 'string', short: 'o' },
        detach: { type: 'boolean' },
        backup: { type: 'string' },
        before: { type: 'string' },
        'to-new-database': { type: 'string' },
        'point-in-time': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (values.help ? out : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  const one = (what: string, list: string[]): string => {
    if (list.length !== 1) throw new UsageError(`${command} takes one ${what}`);
    return list[0]!;
  };
  try {
    switch (command) {
      case 'status':
        return await status(kube(values.context), one('WORKSPACE', rest), out);
      case 'backups':
        return await listBackups(kube(values.context), one('WORKSPACE', rest), out);
      case 'backup': {
        const [sub, ...names] = rest;
        if (sub !== 'now') throw new UsageError('did you mean "kubectl holdfast backup now WORKSPACE"?');
        return await backupNow(kube(values.context), one('WORKSPACE', names), out, { detach: values.detach ?? false });
      }
      case 'restore':
        return await restore(
          kube(values.context),
          one('WORKSPACE', rest),
          {
            ...(values.backup ? { backup: values.backup } : {}),
            ...(values.before ? { before: values.before } : {}),
            ...(values['to-new-database'] ? { newDatabase: values['to-new-database'] } : {}),
            ...(values['point-in-time'] ? { pointInTime: values['point-in-time'] } : {}),
          },
          out,
          { detach: values.detach ?? false },
        );
      case 'decrypt':
        if (!values.identity?.length)
          throw new UsageError('decrypt needs -i FILE: an age identity file, as age-keygen writes it');
        return await decryptArtifact(one('ARTIFACT', rest), values.identity, values.output, out);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
