// `kubectl holdfast restore WORKSPACE --backup NAME | --before TIME`: creates
// a Restore (the operator takes a safety backup, then its Job restores in
// place) and follows it to its end, printing each step and the progress.
import { collectionPath, isConflict, objectPath, type Rest } from '../../kube/rest.js';
import { RESTORE_API, RESTORE_KIND, type RestoreSpec, type RestoreStatus } from '../../operator/api/restore.js';
import { namespaceOf } from '../../operator/api/workspace.js';

type Out = NodeJS.WritableStream;
type RestoreObject = { metadata: { name: string }; spec: RestoreSpec; status?: RestoreStatus };

/** `<workspace>-restore-<yyyymmdd-hhmmss>` in UTC. */
export function restoreName(workspace: string, at: Date): string {
  const t = at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15).toLowerCase();
  return `${workspace}-restore-${t}`;
}

export async function restore(
  rest: Rest,
  workspace: string,
  which: { backup?: string; before?: string },
  out: Out,
  opts: { detach: boolean; timeoutMs?: number },
): Promise<number> {
  if ((which.backup === undefined) === (which.before === undefined))
    throw new Error('restore takes one of --backup NAME (kubectl holdfast backups lists them) or --before TIME');
  let before: string | undefined;
  if (which.before !== undefined) {
    const t = Date.parse(which.before);
    if (Number.isNaN(t))
      throw new Error(`--before "${which.before}" is not a time: write it as 2026-11-30T09:00:00Z (or with an offset)`);
    before = new Date(t).toISOString();
  }
  const ns = namespaceOf(workspace);
  const name = restoreName(workspace, new Date());
  const spec: RestoreSpec = {
    workspace,
    ...(which.backup ? { backup: which.backup } : {}),
    ...(before ? { before } : {}),
  };
  await rest
    .request('POST', collectionPath('Restore', ns), {
      body: { apiVersion: RESTORE_API, kind: RESTORE_KIND, metadata: { name, namespace: ns }, spec },
    })
    .catch((err: unknown) => {
      if (isConflict(err)) throw new Error(`a Restore named ${name} exists already: try again in a second`);
      throw err;
    });
  out.write(`restore ${name} asked for in namespace ${ns}: a safety backup first, then the restore in place\n`);
  if (opts.detach) {
    out.write(`follow it with: kubectl get restore ${name} -n ${ns} -w\n`);
    return 0;
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 12 * 3_600_000);
  let said = '';
  for (;;) {
    const r = await rest.find<RestoreObject>(objectPath('Restore', name, ns));
    if (!r) throw new Error(`restore ${name} was deleted while it ran`);
    const s = r.status ?? {};
    const line = `${s.phase ?? 'Pending'}${s.progress ? ` ${s.progress}` : ''}${s.message ? `: ${s.message}` : ''}`;
    if (line !== said) out.write(`  ${line}\n`);
    said = line;
    if (s.phase === 'Succeeded') {
      out.write(`restore ${name} succeeded in ${s.durationSeconds ?? '?'} s: ${s.rows ?? '?'} rows\n`);
      return 0;
    }
    if (s.phase === 'Failed') {
      out.write(
        `restore ${name} failed${s.job ? `; its Job's log says more: kubectl logs -n ${ns} job/${s.job}` : ''}\n`,
      );
      return 1;
    }
    if (Date.now() > deadline)
      throw new Error(`restore ${name} has not finished in time; it goes on: kubectl get restore ${name} -n ${ns} -w`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}
