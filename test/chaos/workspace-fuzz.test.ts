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

/** A value that is sometimes right for the field and sometimes anything at all. */
const either = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 9, arbitrary: good }, { weight: 1, arbitrary: fc.oneof(fc.string(), fc.integer(), fc.boolean()) });
const quantity = fc.constantFrom('1', '250m', '2Gi', '10Gi', '1.5', '100Mi', '512Mi', '4', 'lots', '-1');
const duration = fc.constantFrom('2160h', '90m', '1h30m', '720h', '8760h', '48h', '4320h', 'forever', '10d');
const cron = fc.constantFrom('0 3 * * *', '*/15 * * * *', '@daily', '@hourly', '30 */6 * * *', '61 * * * *', 'now');
const dnsName = fc.constantFrom('db.acme.example', 'ACME.example', 'a..b', '*.x.example', 'localhost', '');

/** Specs built of the schema's own fields, each optional. */
const fields = fc.record(
  {
    displayName: either(fc.string({ maxLength: 140 })),
    tenant: either(fc.constantFrom('acme', 'Acme', 'a-b', '-a', 'x'.repeat(70))),
    // No pod is ever started: Dedicated databases wait for a StorageClass that does not exist.
    volume: either(
      fc.record(
        { size: either(quantity), storageClassName: either(fc.constantFrom('fuzz-no-such-class', 'UPPER', '')) },
        { requiredKeys: ['storageClassName'] },
      ),
    ),
    database: either(
      fc.record(
        {
          mode: either(fc.constantFrom('Dedicated', 'Shared', 'Elsewhere')),
          provider: either(fc.constantFrom('builtin', 'cloudnative-pg', 'other')),
          version: either(fc.constantFrom(15, 16, 17, 9, 18)),
          serverRef: either(fc.constantFrom('fuzz-no-such-server', 'Bad_Name', '')),
          connectionLimit: either(fc.integer({ min: -5, max: 100_000 })),
          resources: either(fc.record({ cpu: either(quantity), memory: either(quantity) }, { requiredKeys: [] })),
        },
        { requiredKeys: [] },
      ),
    ),
    tls: either(
      fc.record(
        {
          issuer: either(fc.constantFrom('Internal', 'CertManager', 'Mine')),
          duration: either(duration),
          renewBefore: either(duration),
          dnsNames: either(fc.array(dnsName, { maxLength: 3 })),
        },
        { requiredKeys: [] },
      ),
    ),
    backup: either(
      fc.record(
        {
          schedule: either(cron),
          recipients: either(fc.array(fc.constantFrom('age1notakey', 'ssh-rsa AAAA', ''), { maxLength: 2 })),
          retention: either(
            fc.record(
              { hourly: either(fc.integer({ min: -1, max: 400 })), daily: either(fc.integer({ min: -1, max: 400 })) },
              { requiredKeys: [] },
            ),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
    quota: either(
      fc.record(
        { cpu: either(quantity), memory: either(quantity), pods: either(fc.integer({ min: -1, max: 2000 })) },
        { requiredKeys: [] },
      ),
    ),
    deletionPolicy: either(fc.constantFrom('Retain', 'Snapshot', 'Delete', 'Shred')),
    retention: either(fc.record({ afterDeletion: either(duration) }, { requiredKeys: [] })),
    suspend: either(fc.boolean()),
  },
  { requiredKeys: ['volume'] },
);
/** Now and then a field the schema does not have. */
const spec = fc
  .tuple(
    fields,
    fc.oneof({ weight: 9, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.record({ surprise: fc.string() }) }),
  )
  .map(([known, unknown]) => ({ ...known, ...unknown }));

describe('generated Workspace specs', { timeout: 600_000 }, () => {
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
        numRuns: 60,
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
