// The chart as enterprise IT meets it: `helm lint`, values a schema checks,
// manifests the real apiserver accepts (server-side dry run, Pod Security
// restricted), RBAC without a wildcard; then `helm install` on the real node,
// where the operator runs as pods from the locally built image under the
// chart's own ServiceAccount and makes a Dedicated workspace Ready, `helm
// test`, the roles for people, `helm upgrade` to a new image tag and to new
// values with the workspace in place, and `helm uninstall`.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { collectionPath, objectPath, type KubeObject } from '../../kube/rest.js';
import { namespaceOf } from '../../operator/api/workspace.js';
import { LOCAL_POSTGRES_IMAGE } from '../../operator/workspace/database/dedicated.js';
import { eventually, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds } from '../harness/operator.js';
import { TEST_LABEL, Workspaces, type WireWorkspace } from '../harness/workspaces.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const chart = path.join(root, 'charts/holdfast');

async function helm(...args: string[]): Promise<string> {
  const { stdout: dir } = await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', 'helm']);
  const { stdout } = await run(path.join(dir.trim(), 'helm'), args, {
    env: {
      ...process.env,
      KUBECONFIG: inject('kubeconfig'),
      HELM_CACHE_HOME: path.join(inject('controlPlaneDir'), 'helm'),
    },
    maxBuffer: 32 * 1024 * 1024,
  });
  return stdout;
}

/** What `helm` printed on failure: its stderr. */
async function helmError(...args: string[]): Promise<string> {
  return helm(...args).then(
    () => 'no error',
    (err: Error & { stderr?: string }) => err.stderr ?? err.message,
  );
}

type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[] };

describe('the Helm chart', { timeout: 600_000 }, () => {
  const w = new Workspaces();
  const ns = uniqueName('holdfast-chart');
  const release = 'hf';

  beforeAll(async () => {
    await installCrds();
    await w.rest.request('POST', collectionPath('Namespace'), {
      body: {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: ns,
          // What a careful installation namespace enforces: the chart's pods must pass it.
          labels: {
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/warn': 'restricted',
          },
        },
      },
    });
  });
  afterAll(async () => {
    await helm('uninstall', release, '-n', ns, '--wait').catch(() => undefined);
    for (const kind of ['ClusterRole', 'ClusterRoleBinding'] as const)
      for (const n of [`${release}-operator`, `${release}-console`])
        await w.rest
          .request('DELETE', `/apis/rbac.authorization.k8s.io/v1/${kind.toLowerCase()}s/${n}`)
          .catch(() => undefined);
    await w.rest.request('DELETE', objectPath('Namespace', ns)).catch(() => undefined);
  });

  it('lints, and its values schema refuses bad values naming the field', async () => {
    expect(await helm('lint', chart)).toContain('0 chart(s) failed');
    expect(await helmError('template', release, chart, '--set', 'operator.replicas=0')).toMatch(
      /at '\/operator\/replicas': minimum: got 0, want 1/,
    );
    expect(await helmError('template', release, chart, '--set', 'image.pullPolicy=Sometimes')).toMatch(
      /at '\/image\/pullPolicy': value must be one of/,
    );
    expect(await helmError('template', release, chart, '--set', 'operatr.replicas=2')).toMatch(
      /additional properties 'operatr' not allowed/,
    );
    expect(await helmError('template', release, chart, '--set', 'console.database.urlSecret.name=db')).toContain(
      'console.secretsKey.secret.name is required with console.database.urlSecret',
    );
  });

  it('renders manifests the apiserver accepts, pods that pass Pod Security restricted, and RBAC without wildcards', async () => {
    const variants: Record<string, string> = {
      defaults: '{}',
      production: JSON.stringify({
        image: { repository: 'registry.example/holdfast', tag: '1.2.3', pullPolicy: 'Always' },
        imagePullSecrets: [{ name: 'regcred' }],
        operator: {
          replicas: 3,
          allowedDnsSuffixes: ['db.example.com'],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'platform', effect: 'NoSchedule' }],
        },
        console: {
          publicUrl: 'https://holdfast.example.com',
          database: { urlSecret: { name: 'console-db', key: 'url' } },
          secretsKey: { secret: { name: 'console-key', key: 'key' } },
          ingress: { enabled: true, className: 'nginx', host: 'holdfast.example.com', tls: { secretName: 'tls' } },
        },
        networkPolicy: {
          consoleFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
          metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
        },
      }),
      'no console': JSON.stringify({
        console: { enabled: false },
        operator: { replicas: 1 },
        networkPolicy: { enabled: false },
        userRoles: { enabled: false },
      }),
    };
    for (const [variant, values] of Object.entries(variants)) {
      const file = path.join(inject('controlPlaneDir'), `values-${variant.replace(' ', '-')}.json`);
      await writeFile(file, values);
      const manifest = await helm('template', release, chart, '-n', ns, '-f', file);
      const rendered = path.join(inject('controlPlaneDir'), `rendered-${variant.replace(' ', '-')}.yaml`);
      await writeFile(rendered, manifest);
      // Accepted as it is by the real apiserver, its admission included; no Pod Security warning.
      const { stdout, stderr } = await run(
        path.join(
          (await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', 'kubernetes'])).stdout.trim(),
          'kubectl',
        ),
        // Every namespaced object names its namespace (the console's Role for Workspace Events is in default).
        ['apply', '--dry-run=server', '-f', rendered],
        { env: { ...process.env, KUBECONFIG: inject('kubeconfig') } },
      );
      expect([variant, stderr]).toEqual([variant, '']);
      expect(stdout).toContain(`deployment.apps/${release}-operator created (server dry run)`);
      const extras = [
        `networkpolicy.networking.k8s.io/${release}-default-deny created (server dry run)`,
        `clusterrole.rbac.authorization.k8s.io/${release}-tenant-admin created (server dry run)`,
      ];
      if (variant === 'no console') for (const x of extras) expect(stdout).not.toContain(x);
      else for (const x of extras) expect(stdout).toContain(x);

      const docs = parseAllDocuments(manifest).map((d) => d.toJS() as KubeObject & { rules?: Rule[] });
      for (const role of docs.filter((d) => d?.kind === 'ClusterRole' || d?.kind === 'Role'))
        for (const rule of role.rules ?? [])
          for (const field of [rule.apiGroups ?? [], rule.resources ?? [], rule.verbs])
            expect([role.metadata.name, field]).toEqual([role.metadata.name, field.filter((x) => !x.includes('*'))]);
    }
  });

  it('installs on the real node: the operator runs as pods under its own account and makes a workspace Ready', async () => {
    const selectorValue = w.run;
    await helm(
      'install',
      release,
      chart,
      '-n',
      ns,
      '--set',
      'image.repository=localhost/holdfast',
      '--set',
      'image.tag=dev',
      '--set',
      'image.pullPolicy=Never',
      '--set',
      `operator.workspaceSelector=${TEST_LABEL}=${selectorValue}`,
      '--set',
      `operator.postgresImage=${LOCAL_POSTGRES_IMAGE}`,
      '--set',
      'operator.resources.requests.cpu=10m',
      '--set',
      'console.resources.requests.cpu=10m',
      '--wait',
      '--timeout',
      '5m',
    );
    const pods = await w.rest.get<{ items: (KubeObject & { spec: { serviceAccountName: string } })[] }>(
      collectionPath('Pod', ns),
    );
    expect(pods.items.filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'operator')).toHaveLength(2);
    expect(new Set(pods.items.map((p) => p.spec.serviceAccountName))).toEqual(
      new Set([`${release}-operator`, `${release}-console`]),
    );
    expect(await helm('test', release, '-n', ns, '--timeout', '3m')).toMatch(/Phase:\s+Succeeded/);

    // The chart's operator, with the chart's RBAC, does the work: a Dedicated
    // database, and a backup (its Role can grant only what the operator holds).
    const encrypted = await w.storageClass({ encrypted: true });
    const local = uniqueName('chart-local');
    await w.rest.request('POST', collectionPath('BackupDestination'), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'BackupDestination',
        metadata: { name: local },
        spec: { volume: { size: '1Gi', storageClassName: encrypted } },
      },
    });
    const name = await w.create('charted', {
      volume: { storageClassName: encrypted },
      deletionPolicy: 'Delete',
      backup: { destinations: [{ name: local }] },
    });
    try {
      await w.waitForCondition(name, 'Ready', 'True', 300_000);
      await w.waitForCondition(name, 'BackupScheduled', 'True');
      await kubectl('annotate', 'workspace', name, 'holdfast.io/backup-now=chart');
      const backedUp = await w.waitForCondition(name, 'LastBackupSucceeded', 'True', 180_000);
      expect(w.condition(backedUp, 'LastBackupSucceeded')?.message).toMatch(/1\/1 copies/);

      // People's roles: a tenant admin of this workspace asks for backups and
      // reads their Jobs' logs there, and nothing elsewhere; an auditor only reads.
      const wsNs = namespaceOf(name);
      for (const [who, role] of [
        ['tenant-admin', 'tenant-admin'],
        ['auditor', 'auditor'],
      ] as const)
        await kubectl(
          'create',
          'rolebinding',
          `${who}-${name}`,
          '-n',
          wsNs,
          `--clusterrole=${release}-${role}`,
          `--user=${who}@example.com`,
        );
      const kubectlBin = path.join(
        (await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', 'kubernetes'])).stdout.trim(),
        'kubectl',
      );
      const can = async (who: string, ...args: string[]) =>
        (await run(kubectlBin, ['auth', 'can-i', `--as=${who}@example.com`, ...args], {
          env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
        }).then(
          (r) => r.stdout.trim(),
          (err: { stdout?: string }) => (err.stdout ?? '').trim(),
        )) as 'yes' | 'no';
      expect(
        await Promise.all([
          can('tenant-admin', 'create', 'backups.holdfast.io', '-n', wsNs),
          can('tenant-admin', 'get', 'pods', '--subresource=log', '-n', wsNs),
          can('tenant-admin', 'delete', 'backups.holdfast.io', '-n', wsNs),
          can('tenant-admin', 'get', 'secrets', '-n', wsNs),
          can('tenant-admin', 'list', 'backups.holdfast.io', '-n', ns),
          can('tenant-admin', 'get', 'workspaces.holdfast.io'),
          can('auditor', 'list', 'backups.holdfast.io', '-n', wsNs),
          can('auditor', 'create', 'backups.holdfast.io', '-n', wsNs),
          can('tenant-admin', 'create', 'restores.holdfast.io', '-n', wsNs),
          can('tenant-admin', 'patch', 'restores.holdfast.io', '--subresource=status', '-n', wsNs),
          can('auditor', 'watch', 'restores.holdfast.io', '-n', wsNs),
          can('auditor', 'create', 'restores.holdfast.io', '-n', wsNs),
        ]),
      ).toEqual(['yes', 'yes', 'no', 'no', 'no', 'no', 'yes', 'no', 'yes', 'no', 'yes', 'no']);

      // A new image tag: the operator hands its Lease over to the new pods
      // while the workspace stays Ready and its database pod runs on, untouched.
      const containerd = path.join(inject('controlPlaneDir'), 'node/containerd/containerd.sock');
      await run('ctr', [
        '--address',
        containerd,
        '-n',
        'k8s.io',
        'images',
        'tag',
        '--force',
        'localhost/holdfast:dev',
        'localhost/holdfast:dev-next',
      ]);
      const dbPod = async () =>
        (await w.rest.get<{ items: KubeObject[] }>(collectionPath('Pod', wsNs))).items
          .filter((p) => p.metadata.labels?.['holdfast.io/component'] === 'database')
          .map((p) => p.metadata.uid);
      const dbBefore = await dbPod();
      expect(dbBefore).toHaveLength(1);
      const lease = objectPath('Lease', `${release}-operator`, ns);
      // Sampled every 200 ms: who holds the Lease, and whether the workspace stays Ready.
      const samples: { at: number; holder: string }[] = [];
      let watching = true;
      let notReady = 0;
      const watch = (async () => {
        while (watching) {
          const [l, now] = await Promise.all([
            w.rest.find<KubeObject & { spec: { holderIdentity?: string } }>(lease),
            w.rest.get<WireWorkspace>(objectPath('Workspace', name)),
          ]);
          samples.push({ at: Date.now(), holder: l?.spec.holderIdentity ?? '' });
          if (w.condition(now, 'Ready')?.status !== 'True') notReady++;
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const upgradeStarted = Date.now();
      await helm(
        'upgrade',
        release,
        chart,
        '-n',
        ns,
        '--reuse-values',
        '--set',
        'image.tag=dev-next',
        '--wait',
        '--timeout',
        '5m',
      );
      // Old pods stop within their grace period; on a busy node the kubelet reports it late.
      const operatorPods = await eventually(
        'only pods of the new image',
        async () => {
          const list = await w.rest.get<{ items: (KubeObject & { spec: { containers: { image: string }[] } })[] }>(
            collectionPath('Pod', ns),
          );
          const ops = list.items.filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'operator');
          return ops.length === 2 && ops.every((p) => p.spec.containers[0]!.image === 'localhost/holdfast:dev-next')
            ? ops
            : undefined;
        },
        90_000,
      );
      // The new leader is one of the new pods, as sampled: a hand-over faster than one sample
      // must still be among the samples, or the count of holders below would miss it.
      await eventually(
        'the Lease held by a new pod',
        async () =>
          samples.some((x) => operatorPods.some((p) => x.holder.startsWith(p.metadata.name))) ? true : undefined,
        90_000,
      );
      watching = false;
      await watch;
      // The longest time no operator held the Lease: the hand-over gap.
      let gap = 0;
      let since: number | undefined;
      for (const x of samples) {
        if (!x.holder) since ??= x.at;
        else if (since !== undefined) {
          gap = Math.max(gap, x.at - since);
          since = undefined;
        }
      }
      const holders = new Set(samples.map((x) => x.holder).filter(Boolean));
      console.log(
        `image upgrade: rolled in ${((Date.now() - upgradeStarted) / 1000).toFixed(1)}s; ${holders.size} Lease holders; ` +
          `longest time without a leader ${(gap / 1000).toFixed(1)}s (sampled every 0.2s, ${samples.length} samples)`,
      );
      expect(holders.size).toBeGreaterThan(1);
      expect(notReady).toBe(0);
      expect(await dbPod()).toEqual(dbBefore);
      // The backup jobs follow the operator's image, once the new leader has reconciled.
      await eventually('the backup CronJob on the new image', async () => {
        const cronJob = await w.rest.get<
          KubeObject & { spec: { jobTemplate: { spec: { template: { spec: { containers: { image: string }[] } } } } } }
        >(objectPath('CronJob', 'backup', wsNs));
        return cronJob.spec.jobTemplate.spec.template.spec.containers[0]!.image === 'localhost/holdfast:dev-next'
          ? true
          : undefined;
      });

      // A new setting rolls the operator without losing the workspace.
      await helm(
        'upgrade',
        release,
        chart,
        '-n',
        ns,
        '--reuse-values',
        '--set',
        'operator.concurrency=5',
        '--wait',
        '--timeout',
        '5m',
      );
      const deployment = await w.rest.get<
        KubeObject & { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } }
      >(objectPath('Deployment', `${release}-operator`, ns));
      expect(deployment.spec.template.spec.containers[0]!.env).toContainEqual({
        name: 'HOLDFAST_CONCURRENCY',
        value: '5',
      });
      const ws = await w.waitForCondition(name, 'Ready', 'True');
      expect(ws.status?.phase).toBe('Ready');
      expect(await kubectl('get', 'ws', name)).toMatch(new RegExp(`${name}\\s+Ready`));
    } finally {
      await w.delete(name);
      await w.waitGone(name, 180_000);
      await w.rest.request('DELETE', objectPath('BackupDestination', local)).catch(() => undefined);
    }

    await helm('uninstall', release, '-n', ns, '--wait');
    await eventually(
      'the operator pods gone',
      async () => {
        const left = await w.rest.get<{ items: KubeObject[] }>(collectionPath('Pod', ns));
        return left.items.length === 0 ? true : undefined;
      },
      120_000,
    );
    // The CRDs stay (Helm never deletes them), so no Workspace anywhere loses its resource.
    expect(await w.rest.find(objectPath('CustomResourceDefinition', 'workspaces.holdfast.io'))).toBeDefined();
    // The console's data volume is kept.
    expect(await w.rest.find(objectPath('PersistentVolumeClaim', `${release}-console-data`, ns))).toBeDefined();
  });
});
