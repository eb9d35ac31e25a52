// Chaos: generated Workspace specs, near the schema and far from it, sent to
// the real apiserver while the operator runs. An invalid one is refused with
// a message that names its field; a valid one the operator reconciles (says
// something in its status) and it never crashes on any.
import * as fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, WorkspaceSpec } from '../../operator/api/workspace.js';
import { ApiError, collectionPath, objectPath } from '../../kube/rest.js';
import { eventually } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { TEST_LABEL, Workspaces, type WireWorkspace } from '../harness/workspaces.js';
import { scaled } from './scale.js';

/** Specs the schema allows, each field optional. */
const validSpec = fc.record(
  {
    displayName: fc.string({ maxLength: 100 }),
    tenant: fc.constantFrom('acme', 'a-b', 'x1'),
    // No pod is ever started: Dedicated databases wait for a StorageClass that does not exist.
    volume: fc.record(
      { storageClassName: fc.constant('fuzz-no-such-class'), size: fc.constantFrom('1Gi', '10Gi', '512Mi') },
      { requiredKeys: ['storageClassName'] },
    ),
    database: fc.oneof(
      fc.record(
        {
          mode: fc.constant('Dedicated'),
          version: fc.constantFrom('15', '16', '17'),
          resources: fc.record({ cpu: fc.constantFrom('250m', '1'), memory: fc.constantFrom('512Mi', '1Gi') }),
        },
        { requiredKeys: ['mode'] },
      ),
      fc.record(
        {
          mode: fc.constant('Shared'),
          serverRef: fc.constant('fuzz-no-such-server'),
          connectionLimit: fc.integer({ min: 1, max: 500 }),
        },
        { requiredKeys: ['mode', 'serverRef'] },
      ),
    ),
    tls: fc.record(
      {
        duration: fc.constantFrom('2160h', '720h'),
        renewBefore: fc.constant('24h'),
        dnsNames: fc.constant(['db.acme.example']),
      },
      { requiredKeys: [] },
    ),
    backup: fc.record(
      {
        schedule: fc.constantFrom('0 3 * * *', '@daily', '*/30 * * * *'),
        retention: fc.record(
          { hourly: fc.integer({ min: 0, max: 48 }), daily: fc.integer({ min: 0, max: 30 }) },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
    quota: fc.record(
      {
        cpu: fc.constantFrom('2', '500m'),
        memory: fc.constantFrom('4Gi', '8Gi'),
        pods: fc.integer({ min: 1, max: 100 }),
      },
      { requiredKeys: [] },
    ),
    deletionPolicy: fc.constantFrom('Retain', 'Snapshot', 'Delete'),
    retention: fc.record({ afterDeletion: fc.constantFrom('720h', '8760h') }),
    suspend: fc.boolean(),
  },
  { requiredKeys: ['volume'] },
);

/** Where a fault goes, and what: a wrong value of every kind, or a field the schema does not have. */
const FIELDS = [
  'displayName',
  'tenant',
  'volume.size',
  'volume.storageClassName',
  'database.mode',
  'database.provider',
  'database.version',
  'database.serverRef',
  'database.connectionLimit',
  'database.resources.cpu',
  'tls.issuer',
  'tls.duration',
  'tls.renewBefore',
  'tls.dnsNames',
  'backup.schedule',
  'backup.recipients',
  'backup.retention.daily',
  'quota.cpu',
  'quota.memory',
  'quota.pods',
  'deletionPolicy',
  'retention.afterDeletion',
  'suspend',
  'surprise',
  'volume.surprise',
  'database.surprise',
];
const junk = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.boolean(),
  fc.constantFrom('lots', '-1', '', '1Zi', 'forever', '61 * * * *', 'Elsewhere', 'UPPER', '*.x.example', 'age1notakey'),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 2 }),
);
const fault = fc.record({ path: fc.constantFrom(...FIELDS), value: junk });

function withFault(spec: Record<string, unknown>, f: { path: string; value: unknown }): Record<string, unknown> {
  const copy = structuredClone(spec);
  const keys = f.path.split('.');
  let at: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) {
    if (typeof at[k] !== 'object' || at[k] === null || Array.isArray(at[k])) at[k] = {};
    at = at[k] as Record<string, unknown>;
  }
  at[keys.at(-1)!] = f.value;
  return copy;
}

/** Valid specs, and specs with one or two faults. */
const spec = fc
  .tuple(validSpec, fc.array(fault, { maxLength: 2 }))
  .map(([valid, faults]) => faults.reduce<Record<string, unknown>>(withFault, valid));

describe('generated Workspace specs', { timeout: scaled(600_000) }, () => {
  const w = new Workspaces();
  let operator: RunningOperator;
  const accepted: string[] = [];
  const refusals: { spec: unknown; message: string }[] = [];

  beforeAll(async () => {
    await installCrds();
    operator = await startOperator({ selector: w.selector, leaseName: w.run });
  });
  afterAll(async () => {
    await operator?.stop();
    for (const name of accepted) await w.rest.request('DELETE', objectPath('Workspace', name)).catch(() => undefined);
  });

  it('are refused naming the field, or reconciled, and never crash the operator', async () => {
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const name = uniqueName('fuzz');
        try {
          await w.rest.request('POST', collectionPath('Workspace'), {
            body: {
              apiVersion: API_VERSION,
              kind: 'Workspace',
              metadata: { name, labels: { [TEST_LABEL]: w.run } },
              spec: s,
            },
            // An unknown field is an error, as kubectl's default makes it.
            query: { fieldValidation: 'Strict' },
          });
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          // 422 Invalid ("spec.quota.cpu: Invalid value: …"), or 400 for a field not in the schema ("unknown field \"spec.surprise\"").
          expect([400, 422]).toContain(err.code);
          expect(err.message).toMatch(/spec\.[a-zA-Z]/);
          refusals.push({ spec: s, message: err.message });
          return;
        }
        accepted.push(name);
        // What the apiserver keeps, the operator can read: else it would only say InvalidSpec.
        const stored = await w.get(name);
        const parsed = WorkspaceSpec.safeParse(stored.spec);
        expect(parsed.success, parsed.success ? '' : parsed.error.message).toBe(true);
      }),
      {
        numRuns: scaled(60),
        seed: Number(process.env.HOLDFAST_FUZZ_SEED ?? Date.now() % 2 ** 31),
        endOnFailure: true,
        // One of each kind whatever the seed draws.
        examples: [
          [{ volume: { storageClassName: 'fuzz-no-such-class' } }],
          [{ volume: { storageClassName: 'fuzz-no-such-class' }, quota: { cpu: 'lots' } }],
        ],
      },
    );
    console.log(`generated specs: ${accepted.length} accepted, ${refusals.length} refused`);

    for (const name of accepted) {
      await eventually(
        `${name} reconciled`,
        async () => {
          const ws: WireWorkspace = await w.get(name);
          return ws.status?.observedGeneration === ws.metadata.generation && ws.status?.phase ? ws : undefined;
        },
        120_000,
      );
    }
    expect(operator.process.exitCode).toBeNull();
    expect(await operator.metric('holdfast_leader')).toBe(1);
  });
});
