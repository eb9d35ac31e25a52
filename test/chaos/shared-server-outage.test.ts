// Chaos: the PostgreSQL of a SharedDatabaseServer stops answering for a
// minute (frozen with SIGSTOP, so that connections hang rather than fail
// fast, the harder case). Its workspaces say so; the other server's
// workspaces, and changes that need no database, carry on; all recover.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import { objectPath } from '../../kube/rest.js';
import { eventually } from '../harness/kube.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';
import { Workspaces } from '../harness/workspaces.js';
import { SCALE, scaled } from './scale.js';

const run = promisify(execFile);

/** Sends `signal` to the server's postmaster and every backend it forked. */
async function signalServer(pg: TestPostgres, signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
  const postmaster = Number((await readFile(path.join(pg.dir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const children = await run('pgrep', ['-P', String(postmaster)]).then(
    (r) => r.stdout.split('\n').filter(Boolean).map(Number),
    () => [] as number[],
  );
  for (const pid of [postmaster, ...children]) process.kill(pid, signal);
}

describe(
  `a SharedDatabaseServer that stops answering for ${SCALE === 1 ? 'a minute' : `${SCALE} minutes`}`,
  { timeout: scaled(600_000) },
  () => {
    const w = new Workspaces();
    let frozen: TestPostgres;
    let healthy: TestPostgres;
    let operator: RunningOperator;
    let encrypted: string;

    beforeAll(async () => {
      await installCrds();
      frozen = await startPostgres();
      healthy = await startPostgres();
      encrypted = await w.storageClass({ encrypted: true });
      operator = await startOperator({ selector: w.selector, leaseName: w.run });
    });
    afterAll(async () => {
      if (frozen) await signalServer(frozen, 'SIGCONT').catch(() => undefined);
      await operator?.stop();
      await frozen?.stop();
      await healthy?.stop();
    });

    it('makes its workspaces say so while the rest carries on, and all recover', async () => {
      const down = await w.sharedServer(frozen, 'pg-down');
      const up = await w.sharedServer(healthy, 'pg-up');
      const on = (server: string) => ({
        volume: { storageClassName: encrypted },
        database: { mode: 'Shared', serverRef: server },
      });
      const affected = [await w.create('outage', on(down)), await w.create('outage', on(down))];
      const bystander = await w.create('bystander', on(up));
      for (const n of [...affected, bystander]) await w.waitForCondition(n, 'Ready', 'True');

      await signalServer(frozen, 'SIGSTOP');
      const frozenAt = Date.now();
      try {
        // Said within a probe period and its timeout.
        for (const n of affected) {
          const ws = await w.waitForCondition(n, 'DatabaseReady', 'False', 60_000);
          expect(w.condition(ws, 'DatabaseReady')?.reason).toBe('ServerUnreachable');
          expect(w.condition(ws, 'DatabaseReady')?.message).toContain(`SharedDatabaseServer ${down}`);
          expect(w.condition(ws, 'Ready')).toMatchObject({ status: 'False', reason: 'ServerUnreachable' });
          expect(ws.status?.phase).toBe('Degraded');
        }
        const warned = await eventually('a Warning Event', async () =>
          (await w.events(affected[0]!)).find((e) => e.type === 'Warning' && e.reason === 'ServerUnreachable'),
        );
        expect(warned.note).toContain('has not answered since');

        // Nothing else stalls: a new workspace on the other server, and a quota
        // edit on an affected one, both while the server is still frozen.
        const newcomer = await w.create('newcomer', on(up));
        await w.waitForCondition(newcomer, 'Ready', 'True', 60_000);
        await w.rest.request('PATCH', objectPath('Workspace', affected[0]!), {
          body: { spec: { quota: { cpu: '3' } } },
          contentType: 'application/merge-patch+json',
        });
        await eventually('the quota edit applied', async () => {
          const quota = (await w.object('ResourceQuota', 'workspace', namespaceOf(affected[0]!))) as
            { spec: { hard: Record<string, string> } } | undefined;
          return quota?.spec.hard['requests.cpu'] === '3' ? true : undefined;
        });
        expect(w.condition(await w.get(bystander), 'Ready')?.status).toBe('True');
        // Down for a minute at least.
        await new Promise((r) => setTimeout(r, Math.max(0, scaled(60_000) - (Date.now() - frozenAt))));
      } finally {
        await signalServer(frozen, 'SIGCONT');
      }

      for (const n of affected) await w.waitForCondition(n, 'Ready', 'True', 90_000);
      // Ready again is told, as the Ready of its creation was.
      expect(
        (await w.events(affected[0]!)).filter((e) => e.type === 'Normal' && e.reason === 'Provisioned'),
      ).toHaveLength(2);
      expect(operator.process.exitCode).toBeNull();
    });
  },
);
