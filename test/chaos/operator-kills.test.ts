// Chaos: the operator is SIGKILLed at random moments while it creates and
// deletes Shared workspaces, and started again each time. In the end every
// workspace left converges, every deleted one is gone with its namespace,
// database and role, and nothing exists twice or without its Workspace.
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import { sharedIdentifier } from '../../operator/database/shared.js';
import { collectionPath } from '../../kube/rest.js';
import { eventually } from '../harness/kube.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { startPostgres, superuserClient, type TestPostgres } from '../harness/postgres.js';
import { Workspaces } from '../harness/workspaces.js';
import { scaled } from './scale.js';

const CREATE = scaled(100);
const DELETE = scaled(30);
const KILLS = scaled(4);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('an operator killed at random moments', { timeout: scaled(900_000) }, () => {
  const w = new Workspaces();
  let pg: TestPostgres;
  let admin: postgres.Sql;
  let operator: RunningOperator | undefined;

  beforeAll(async () => {
    await installCrds();
    pg = await startPostgres();
    admin = superuserClient(pg);
  });
  afterAll(async () => {
    await operator?.stop();
    await admin?.end();
    await pg?.stop();
  });

  it('leaves every workspace converged or gone, nothing twice and nothing orphaned', async () => {
    const server = await w.sharedServer(pg, 'pg-kills');
    const encrypted = await w.storageClass({ encrypted: true });
    const start = () => startOperator({ selector: w.selector, leaseName: w.run, name: `kills-${Date.now()}` });
    operator = await start();
    const names: string[] = [];
    const creating = (async () => {
      for (let i = 0; i < CREATE; i++)
        names.push(
          await w.create('kill', {
            volume: { storageClassName: encrypted },
            database: { mode: 'Shared', serverRef: server },
            deletionPolicy: 'Delete',
          }),
        );
    })();
    const seed = Date.now() % 2 ** 31;
    let state = seed + 1;
    const random = () => (state = (state * 48271) % 2147483647) / 2147483647;
    const deleted: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      // A moment within the first seconds of its work, where reconciles are in flight.
      await sleep(500 + random() * 3500);
      await operator.kill();
      if (k === 1) {
        // Deletions asked while no operator runs; the next one takes them over midway.
        await creating;
        for (const n of names.slice(0, DELETE)) {
          await w.delete(n);
          deleted.push(n);
        }
      }
      operator = await start();
    }
    await creating;
    const kept = names.filter((n) => !deleted.includes(n));

    for (const n of deleted) await w.waitGone(n, 180_000);
    for (const n of kept) await w.waitForCondition(n, 'Ready', 'True', 180_000);

    // Nothing twice, nothing orphaned: exactly the kept workspaces' databases, roles and namespaces.
    const ours = (rows: { name: string }[]) =>
      rows
        .map((r) => r.name)
        .filter((n) => names.some((x) => sharedIdentifier(x) === n))
        .sort();
    const want = kept.map(sharedIdentifier).sort();
    expect(ours(await admin<{ name: string }[]>`select datname as name from pg_database`)).toEqual(want);
    expect(ours(await admin<{ name: string }[]>`select rolname as name from pg_roles`)).toEqual(want);
    await eventually(
      'the deleted namespaces gone',
      async () => {
        const list = await w.rest.get<{ items: { metadata: { name: string } }[] }>(collectionPath('Namespace'));
        const present = list.items
          .map((ns) => ns.metadata.name)
          .filter((ns) => names.some((n) => namespaceOf(n) === ns))
          .sort();
        return JSON.stringify(present) === JSON.stringify(kept.map(namespaceOf).sort()) ? true : undefined;
      },
      180_000,
    );
    for (const n of kept) {
      expect(await w.list('ResourceQuota', namespaceOf(n))).toHaveLength(1);
      expect((await w.list('Secret', namespaceOf(n))).filter((s) => s.metadata.name === 'db-tls')).toHaveLength(1);
    }
    console.log(`operator killed ${KILLS} times (seed ${seed}); ${kept.length} kept, ${deleted.length} deleted`);
  });
});
