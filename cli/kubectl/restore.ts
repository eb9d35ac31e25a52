// `kubectl holdfast restore WORKSPACE --backup NAME | --before TIME
// [--to-new-database NAME] | --point-in-time TIME`: creates a Restore (the
// operator takes a safety backup, then its Job restores in place; or its Job
// restores into the new database beside the workspace's; or CloudNativePG
// recovers a new Cluster to that time) and follows it to its end, printing
// each step and the progress.
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
  which: { backup?: string; before?: string; newDatabase?: string; pointInTime?: string },
  out: Out,
  opts: { detach: boolean; timeoutMs?: number },
): Promise<number> {
  if ([which.backup, which.before, which.pointInTime].filter((w) => w !== undefined).length !== 1)
    throw new Error(
      'restore takes one of --backup NAME (kubectl holdfast backups lists them), --before TIME or --point-in-time TIME',
    );
  if (which.pointInTime !== undefined && which.newDatabase !== undefined)
    throw new Error('--point-in-time always recovers into a new Cluster: leave out --to-new-database');
  const time = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const t = Date.parse(v);
    if (Number.isNaN(t))
      throw new Error(`--${flag} "${v}" is not a time: write it as 2026-11-30T09:00:00Z (or with an offset)`);
    return new Date(t).toISOString();
  };
  const before = time('before', which.before);
  const pointInTime = time('point-in-time', which.pointInTime);
  const ns = namespaceOf(workspace);
  const name = restoreName(workspace, new Date());
  const spec: RestoreSpec = {
    workspace,
    ...(which.backup ? { backup: which.backup } : {}),
    ...(before ? { before } : {}),
    ...(which.newDatabase ? { newDatabase: which.newDatabase } : {}),
    ...(pointInTime ? { pointInTime } : {}),
  };
  await rest
    .request('POST', collectionPath('Restore', ns), {
      body: { apiVersion: RESTORE_API, kind: RESTORE_KIND, metadata: { name, namespace: ns }, spec },
    })
    .catch((err: unknown) => {
      if (isConflict(err)) throw new Error(`a Restore named ${name} exists already: try again in a second`);
      throw err;
    });
  out.write(
    `restore ${name} asked for in namespace ${ns}: ${
      pointInTime
        ? `recovering the database as it was at ${pointInTime} into a new Cluster beside the workspace's`
        : which.newDatabase
          ? `into the new database ${which.newDatabase}, beside the workspace's, which stays as it is`
          : 'a safety backup first, then the restore in place'
    }\n`,
  );
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
      out.write(
        s.cluster
          ? `restore ${name} succeeded in ${s.durationSeconds ?? '?'} s: ${s.message ?? ''}\n`
          : `restore ${name} succeeded in ${s.durationSeconds ?? '?'} s: ${s.rows ?? '?'} rows${which.newDatabase ? ` in database ${which.newDatabase}` : ''}\n`,
      );
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
