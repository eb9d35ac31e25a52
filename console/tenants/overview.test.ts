import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Viewer } from '../access.js';
import { openDatabase, type OpenedDb } from '../db/client.js';
import { tenants, users } from '../db/schema.js';
import type { WorkspaceSummary } from '../workspaces.js';
import { overview, problemsOf } from './overview.js';
import { Tenants } from './service.js';
import { SecretBox } from '../secret-box.js';

const root: Viewer = { id: 'r', email: 'r@x.test', name: '', role: 'platform-admin', tenantId: null };
const now = Date.now();
const hoursAgo = (h: number) => new Date(now - h * 3_600_000).toISOString();

function summary(name: string, s: Partial<WorkspaceSummary>): WorkspaceSummary {
  return {
    name,
    phase: 'Ready',
    ready: true,
    reason: '',
    message: '',
    databaseMode: 'Dedicated',
    suspended: false,
    ...s,
  };
}

describe('the overview', () => {
  let dir: string;
  let db: OpenedDb;
  const health = new Map<string, WorkspaceSummary>([
    [
      'acme',
      summary('acme', { lastBackup: hoursAgo(2), lastVerified: hoursAgo(30), certificateExpiry: hoursAgo(-24 * 60) }),
    ],
    [
      'globex',
      summary('globex', { phase: 'Degraded', ready: false, reason: 'DatabaseNotReady', lastBackup: hoursAgo(3) }),
    ],
    ['initech', summary('initech', { lastBackup: hoursAgo(40), certificateExpiry: hoursAgo(-24 * 5) })],
  ]);

  const index = () => new Tenants(db.db, SecretBox.parse(SecretBox.generateKey())).index();

  // PGlite starts in seconds alone, slower beside the other unit test files.
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-overview-'));
    db = await openDatabase({ dataDir: dir });
    for (const [id, name] of [
      ['acme', 'Acme Corp'],
      ['globex', 'Globex'],
      ['initech', 'Initech'],
      ['umbrella', 'Umbrella'],
    ] as const)
      await db.db.insert(tenants).values({ id, displayName: name, workspace: id });
    await db.db.insert(users).values([
      { id: 'u1', email: 'a@acme.test', name: '', role: 'auditor', tenantId: 'acme', passwordHash: 'x' },
      { id: 'u2', email: 'b@acme.test', name: '', role: 'auditor', tenantId: 'acme', passwordHash: 'x' },
    ]);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('says what needs attention: not Ready, no recent backup, a certificate about to expire, no workspace', () => {
    expect(problemsOf(health.get('acme')!, now)).toEqual([]);
    expect(problemsOf(health.get('globex')!, now)).toEqual(['DatabaseNotReady']);
    expect(problemsOf(health.get('initech')!, now)).toEqual([
      'last backup over 26 h ago',
      'certificate expires within 14 days',
    ]);
    expect(problemsOf(null, now)).toEqual(['no workspace']);
  });

  it('sorts by health columns, filters, and pages, with each page counting its people', async () => {
    const ids = async (q: Parameters<typeof overview>[2]) =>
      overview(await index(), root, q, health).items.map((r) => r.id);
    expect(await ids({ sort: 'status' })).toEqual(['umbrella', 'globex', 'acme', 'initech']);
    expect(await ids({ sort: 'backup', desc: true })).toEqual(['acme', 'globex', 'initech', 'umbrella']);
    expect(await ids({ sort: 'certificate' })).toEqual(['initech', 'acme', 'globex', 'umbrella']);
    expect(await ids({ problems: true })).toEqual(['globex', 'initech', 'umbrella']);
    expect(await ids({ q: 'CORP' })).toEqual(['acme']);
    expect(await ids({ q: '%' })).toEqual([]);
    const second = overview(await index(), root, { pageSize: 3, page: 2 }, health);
    expect(second).toMatchObject({ total: 4, page: 2, items: [{ id: 'umbrella' }] });
    const first = overview(await index(), root, { pageSize: 1 }, health);
    expect(first.items).toMatchObject([{ id: 'acme', users: 2 }]);
  });

  it('shows a change of health at once: the watch hands out a new map, and the sorted list follows it', async () => {
    const tenantIndex = await index();
    const attention = (h: typeof health) => overview(tenantIndex, root, { problems: true }, h).items.map((r) => r.id);
    expect(attention(health)).toEqual(['globex', 'initech', 'umbrella']);
    const healed = new Map(health);
    healed.set('globex', summary('globex', { lastBackup: hoursAgo(1) }));
    expect(attention(healed)).toEqual(['initech', 'umbrella']);
  });

  it('shows a tenant admin their own tenant only, whatever the filter', async () => {
    const admin: Viewer = { ...root, role: 'tenant-admin', tenantId: 'globex' };
    expect(overview(await index(), admin, { q: 'acme' }, health).items.map((r) => r.id)).toEqual(['globex']);
  });
});
