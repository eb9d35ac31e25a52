// A backup's artifact downloaded through the console by a tenant admin:
// streamed from a real S3 server as stored there, still age-encrypted, and
// opened with the real age CLI. The console runs as the chart's account,
// which may read a destination's credentials only once the chart's values
// list them.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Viewer } from '../../console/access.js';
import { collectionPath, objectPath } from '../../kube/rest.js';
import { CHART_NAMESPACE, CHART_RELEASE } from '../harness/chart-accounts.js';
import { builtApp } from '../harness/browser.js';
import { TEST_CLIENT, firstSignIn, startConsole, strongPassword, type TestConsole } from '../harness/console.js';
import { TestDestinations } from '../harness/destinations.js';
import { chartConsoleWorkspaces, kubectl } from '../harness/kube.js';
import { uniqueName } from '../harness/names.js';
import { installCrds } from '../harness/operator.js';
import { startS3, testS3Client, type TestS3 } from '../harness/s3.js';
import { TEST_LABEL, Workspaces } from '../harness/workspaces.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const rootViewer: Viewer = {
  id: 'root',
  email: 'root@holdfast.test',
  name: '',
  role: 'platform-admin',
  tenantId: null,
};

/** The chart's Role and RoleBinding for downloads, rendered with these Secrets listed, applied as helm would. */
async function allowDownloads(secrets: { namespace: string; name: string }[]): Promise<void> {
  const helm = path.join(
    (await run(path.join(root, 'hack/build-tools.sh'), ['--print-dir', 'helm'])).stdout.trim(),
    'helm',
  );
  const set = secrets.flatMap((s, i) => [
    '--set',
    `console.artifactDownloads.credentialsSecrets[${i}].namespace=${s.namespace}`,
    '--set',
    `console.artifactDownloads.credentialsSecrets[${i}].name=${s.name}`,
  ]);
  const { stdout } = await run(helm, [
    'template',
    CHART_RELEASE,
    path.join(root, 'charts/holdfast'),
    '-n',
    CHART_NAMESPACE,
    '--show-only',
    'templates/console-artifacts.yaml',
    ...set,
  ]);
  const items = parseAllDocuments(stdout)
    .map((d) => d.toJS() as unknown)
    .filter(Boolean);
  expect(items.map((i) => (i as { kind: string }).kind)).toEqual(['Role', 'RoleBinding']);
  const dir = await mkdtemp(path.join(tmpdir(), 'holdfast-chart-'));
  try {
    const file = path.join(dir, 'console-artifacts.json');
    await writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    await kubectl('apply', '--server-side', '--field-manager=holdfast-tests', '-f', file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('backup artifacts downloaded from the console', () => {
  const w = new Workspaces();
  let s3: TestS3;
  let c: TestConsole;
  let dests: TestDestinations;
  let work: string;
  let tenant: string;
  let other: string;
  let destination: string;
  let secretName: string;
  const backup = uniqueName('nightly');
  const plaintext = randomBytes(300_000);

  beforeAll(async () => {
    await installCrds();
    work = await mkdtemp(path.join(tmpdir(), 'holdfast-artifacts-'));
    s3 = await startS3();
    await s3.bucket('artifacts');
    dests = new TestDestinations(w.rest);
    destination = uniqueName('offsite');
    secretName = `${destination}-s3`;
    await dests.credentialsSecret(secretName, { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    await w.rest.request('POST', collectionPath('BackupDestination'), {
      body: {
        apiVersion: 'holdfast.io/v1alpha1',
        kind: 'BackupDestination',
        metadata: { name: destination },
        spec: {
          s3: {
            endpoint: s3.endpoint,
            bucket: 'artifacts',
            prefix: 'holdfast/',
            credentialsSecretRef: { name: secretName, namespace: dests.credentialsNamespace },
          },
        },
      },
    });
    c = await startConsole({
      database: 'pglite',
      remix: await builtApp(),
      workspaces: chartConsoleWorkspaces(),
      settings: { workspaceLabels: { [TEST_LABEL]: w.run } },
    });
    // Two tenants, each with a Workspace; only the first has a backup.
    tenant = uniqueName('acme');
    other = uniqueName('globex');
    for (const id of [tenant, other]) {
      await c.services.tenantWorkspaces.create(rootViewer, { id, displayName: id }, TEST_CLIENT);
      await w.rest.request('POST', collectionPath('Namespace'), {
        body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ws-${id}` } },
      });
    }

    // What a backup job would have stored: the dump encrypted to the workspace's key.
    const identity = path.join(work, 'identity.txt');
    await run('age-keygen', ['-o', identity]);
    const recipient = (await run('age-keygen', ['-y', identity])).stdout.trim();
    await writeFile(path.join(work, 'dump'), plaintext);
    await run('age', ['-r', recipient, '-o', path.join(work, 'dump.age'), path.join(work, 'dump')]);
    const artifact = `${tenant}/2026/12/${backup}.dump.age`;
    await testS3Client(s3).send(
      new PutObjectCommand({
        Bucket: 'artifacts',
        Key: `holdfast/${artifact}`,
        Body: await readFile(path.join(work, 'dump.age')),
      }),
    );
    await w.recordBackup(tenant, backup, {
      phase: 'Succeeded',
      completedAt: new Date().toISOString(),
      artifact,
      copies: [{ destination, phase: 'Stored', location: `s3://artifacts/holdfast/${artifact}` }],
    });
  });
  afterAll(async () => {
    await c?.stop();
    await s3?.stop();
    await dests?.remove();
    for (const id of [tenant, other]) {
      if (!id) continue;
      await w.delete(id).catch(() => undefined);
      await w.rest.request('DELETE', objectPath('Namespace', `ws-${id}`)).catch(() => undefined);
    }
    await w.rest.request('DELETE', objectPath('BackupDestination', destination)).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A signed-in person of `tenantId` with `role`: their session cookie. */
  async function person(tenantId: string | null, role: 'tenant-admin' | 'auditor'): Promise<string> {
    const email = `${uniqueName(role)}@example.test`;
    const { oneTimePassword } = await c.services.tenants.createUser(rootViewer, tenantId, { email, role }, TEST_CLIENT);
    return `${c.app.cookieNames.session}=${await firstSignIn(c, email, oneTimePassword, strongPassword())}`;
  }

  const url = (id: string, name = backup, dest = destination) =>
    `${c.url}/tenants/${id}/backups/${name}/artifact?destination=${encodeURIComponent(dest)}`;

  it('says what the chart must allow while the console may not read the destination credentials', async () => {
    const cookie = await person(tenant, 'tenant-admin');
    const res = await fetch(url(tenant), { headers: { cookie } });
    expect(res.status).toBe(503);
    expect(await res.text()).toBe(
      `downloads from ${destination} are not enabled; ask a platform administrator to allow them (console.artifactDownloads in the chart's values)\n`,
    );
    // The platform administrator is told which Secret to list.
    const asRoot = await c.services.artifacts.open(rootViewer, tenant, backup, destination, TEST_CLIENT).then(
      () => 'opened',
      (err: unknown) => String(err),
    );
    expect(asRoot).toContain(
      `the console may not read Secret ${dests.credentialsNamespace}/${secretName} of BackupDestination ${destination}; list it under console.artifactDownloads.credentialsSecrets`,
    );
  });

  it('streams the artifact as stored to a tenant admin, which the age CLI opens with the tenant key', async () => {
    await allowDownloads([{ namespace: dests.credentialsNamespace, name: secretName }]);
    const cookie = await person(tenant, 'tenant-admin');
    const res = await fetch(url(tenant), { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${backup}.dump.age"`);
    const stored = Buffer.from(await res.arrayBuffer());
    expect(stored.equals(await readFile(path.join(work, 'dump.age')))).toBe(true);
    await writeFile(path.join(work, 'downloaded.age'), stored);
    await run('age', [
      '-d',
      '-i',
      path.join(work, 'identity.txt'),
      '-o',
      path.join(work, 'opened'),
      path.join(work, 'downloaded.age'),
    ]);
    expect((await readFile(path.join(work, 'opened'))).equals(plaintext)).toBe(true);
    const audit = await c.services.audit.list(rootViewer, { pageSize: 200 });
    expect(audit.items.find((e) => e.action === 'backup.downloaded')).toMatchObject({
      tenantId: tenant,
      target: `backup/${backup}`,
      after: { destination, object: `s3://artifacts/holdfast/${tenant}/2026/12/${backup}.dump.age` },
    });
  });

  it('gives nothing to an auditor, to another tenant, or for a copy that is not there', async () => {
    const auditor = await person(tenant, 'auditor');
    expect((await fetch(url(tenant), { headers: { cookie: auditor } })).status).toBe(403);
    const stranger = await person(other, 'tenant-admin');
    expect((await fetch(url(tenant), { headers: { cookie: stranger } })).status).toBe(404);
    const admin = await person(tenant, 'tenant-admin');
    const missing = await fetch(url(tenant, backup, 'elsewhere'), { headers: { cookie: admin } });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain(`backup ${backup} has no stored copy at elsewhere`);
    // The backup log offers the download next to the copy.
    const page = await (await fetch(`${c.url}/tenants/${tenant}/backups`, { headers: { cookie: admin } })).text();
    expect(page).toContain(
      `href="/tenants/${tenant}/backups/${backup}/artifact?destination=${encodeURIComponent(destination)}"`,
    );
  });
});
