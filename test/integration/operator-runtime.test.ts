// The operator as a process: killed mid-work, stopped while Workspaces are
// deleted, run as two replicas, and faced with one Workspace that cannot be
// reconciled.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { namespaceOf } from '../../operator/api/workspace.js';
import { Rest } from '../../kube/rest.js';
import { adminConfig, eventually } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds, startOperator, type RunningOperator } from '../harness/operator.js';
import { Workspaces } from '../harness/workspaces.js';

const LEASE_MS = 4000;

// Each Ready here includes a real PostgreSQL pod starting on the run's one node,
// beside every other suite's: the bounds are for a busy 2-core machine.
describe('operator runtime', { timeout: 600_000 }, () => {
  const running: RunningOperator[] = [];
  let encrypted: string;
  const probe = new Workspaces();

  beforeAll(async () => {
    await installCrds();
    encrypted = await probe.storageClass({ encrypted: true });
  });
  afterEach(async () => {
    for (const op of running.splice(0)) await op.kill();
  });

  async function operator(w: Workspaces, name: string): Promise<RunningOperator> {
    const op = await startOperator({ selector: w.selector, leaseName: w.run, leaseDurationMs: LEASE_MS, name });
    running.push(op);
    return op;
  }

  it('converges after being killed mid-reconcile, without duplicates', async () => {
    const w = new Workspaces();
    const names: string[] = [];
    for (let i = 0; i < 12; i++) names.push(await w.create('kill', { volume: { storageClassName: encrypted } }));
    const first = await operator(w, 'first');
    // Kill it as soon as it has started writing, before it can have finished.
    await eventually(
      'the first namespace',
      async () => {
        for (const n of names) if (await w.object('Namespace', namespaceOf(n))) return true;
        return undefined;
      },
      30_000,
    );
    await first.kill();
    const readyBefore = (await Promise.all(names.map((n) => w.get(n)))).filter(
      (ws) => w.condition(ws, 'Ready')?.status === 'True',
    ).length;
    expect(readyBefore).toBeLessThan(names.length);

    await operator(w, 'second');
    for (const n of names) await w.waitForCondition(n, 'Ready', 'True', 240_000);
    for (const n of names) {
      const ns = namespaceOf(n);
      expect((await w.list('NetworkPolicy', ns)).length).toBe(5);
      expect((await w.list('ResourceQuota', ns)).length).toBe(1);
      expect((await w.list('LimitRange', ns)).length).toBe(1);
      expect((await w.list('PersistentVolumeClaim', ns)).length).toBe(1);
    }
  });

  it('finishes a deletion that happened while it was down', async () => {
    const w = new Workspaces();
    const op = await operator(w, 'down');
    const name = await w.create('down', { volume: { storageClassName: encrypted }, deletionPolicy: 'Delete' });
    await w.waitForCondition(name, 'Ready', 'True');
    expect(await op.stop()).toBe(0);

    await w.delete(name);
    await new Promise((r) => setTimeout(r, 2000));
    const held = await w.get(name);
    expect(held.metadata.deletionTimestamp).toBeDefined();
    expect(held.metadata.finalizers).toContain('holdfast.io/deletion-policy');

    await operator(w, 'up-again');
    await w.waitGone(name, 60_000);
    await eventually(
      'namespace gone',
      async () => ((await w.object('Namespace', namespaceOf(name))) ? undefined : true),
      60_000,
    );
  });

  it('runs one leader among two replicas; the standby takes over when the leader is killed', async () => {
    const w = new Workspaces();
    const a = await operator(w, 'replica-a');
    const b = await operator(w, 'replica-b');
    const leaders = async () => [await a.metric('holdfast_leader'), await b.metric('holdfast_leader')];
    await eventually('one leader', async () => ((await leaders()).reduce((x, y) => x + y) === 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, LEASE_MS));
    expect((await leaders()).reduce((x, y) => x + y)).toBe(1);

    const [leader, standby] = (await a.metric('holdfast_leader')) === 1 ? [a, b] : [b, a];
    const before = await w.create('ha', { volume: { storageClassName: encrypted } });
    await w.waitForCondition(before, 'Ready', 'True');
    expect(await standby.metric('holdfast_reconcile_total')).toBe(0);

    await leader.kill();
    const killedAt = Date.now();
    await eventually(
      'the standby to lead',
      async () => ((await standby.metric('holdfast_leader')) === 1 ? true : undefined),
      30_000,
    );
    const takeoverMs = Date.now() - killedAt;
    // It must wait out the dead leader's lease; it must not wait much longer.
    expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_MS - 1500);
    expect(takeoverMs).toBeLessThan(LEASE_MS * 3);

    const after = await w.create('ha', { volume: { storageClassName: encrypted } });
    await w.waitForCondition(after, 'Ready', 'True');
  });

  it('releases the lease on a graceful stop, so the standby takes over at once', async () => {
    const w = new Workspaces();
    const a = await operator(w, 'graceful-a');
    await eventually('a leads', async () => ((await a.metric('holdfast_leader')) === 1 ? true : undefined));
    const b = await operator(w, 'graceful-b');
    expect(await a.stop()).toBe(0);
    const stoppedAt = Date.now();
    await eventually('b leads', async () => ((await b.metric('holdfast_leader')) === 1 ? true : undefined), 30_000);
    expect(Date.now() - stoppedAt).toBeLessThan(LEASE_MS);
  });

  it('keeps reconciling the others while one Workspace keeps failing, and says why', async () => {
    const w = new Workspaces();
    const rest = new Rest(adminConfig());
    // An admission policy refuses the NetworkPolicies of one workspace (as a
    // cluster's own policy engine might): its workspace cannot converge.
    const bad = uniqueName('stuck');
    const policy = `holdfast-test-${bad}`;
    await rest.request('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', {
      body: {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicy',
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: ['networking.k8s.io'],
                apiVersions: ['v1'],
                operations: ['CREATE'],
                resources: ['networkpolicies'],
              },
            ],
          },
          validations: [{ expression: 'false', message: 'network policies are held by the platform team' }],
        },
      },
    });
    await rest.request('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings', {
      body: {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicyBinding',
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ['Deny'],
          matchResources: {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespaceOf(bad) } },
          },
        },
      },
    });

    await operator(w, 'failing');
    await rest.request('POST', '/apis/holdfast.io/v1alpha1/workspaces', {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'Workspace',
        metadata: { name: bad, labels: { 'holdfast.io/test': w.run } },
        spec: { volume: { storageClassName: encrypted } },
      },
    });
    const good: string[] = [];
    for (let i = 0; i < 5; i++) good.push(await w.create('ok', { volume: { storageClassName: encrypted } }));
    for (const n of good) await w.waitForCondition(n, 'Ready', 'True', 240_000);

    const failing = await w.waitForCondition(bad, 'Ready', 'False');
    expect(w.condition(failing, 'Ready')).toMatchObject({ reason: 'ApplyFailed' });
    expect(w.condition(failing, 'Ready')?.message).toMatch(/held by the platform team/);
    expect(running.at(-1) && (await running.at(-1)!.metric('holdfast_reconcile_errors_total'))).toBeGreaterThan(0);

    // Let it go, so the cluster is left clean for the other suites.
    await rest.request('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${policy}`);
    await rest.request('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${policy}`);
    await w.delete(bad);
  });
});
