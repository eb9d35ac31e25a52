// The platform overview: every tenant the viewer may see with its
// Workspace's health (Ready, last backup, last drill, certificate expiry),
// filtered, sorted by any column and paginated, in memory: the tenants
// from the console's index of them (read at most every 5 s), health from
// its Workspace watch. A view reads nothing from the database.
import type { Viewer } from '../access.js';
import type { WorkspaceSummary } from '../workspaces.js';
import type { Page, TenantIndex } from './service.js';

export const OVERVIEW_SORTS = ['name', 'id', 'created', 'status', 'backup', 'drill', 'certificate'] as const;
export type OverviewSort = (typeof OVERVIEW_SORTS)[number];

/** A backup older than this is a problem: the default schedule is daily, with slack. */
export const STALE_BACKUP_MS = 26 * 3_600_000;

export interface OverviewRow {
  id: string;
  displayName: string;
  workspace: string;
  createdAt: string;
  sso: string;
  totpRequired: boolean;
  users: number;
  status: WorkspaceSummary | null;
  /** Why the row is in "needs attention"; empty when healthy. */
  problems: string[];
}

export interface OverviewQuery {
  q?: string;
  sort?: OverviewSort;
  desc?: boolean;
  page?: number;
  pageSize?: number;
  /** Only tenants that need attention. */
  problems?: boolean;
}

export function problemsOf(status: WorkspaceSummary | null, now = Date.now()): string[] {
  if (!status) return ['no workspace'];
  const found: string[] = [];
  if (status.suspended) found.push('suspended');
  else if (!status.ready) found.push(status.reason || 'not ready');
  if (!status.lastBackup) found.push('never backed up');
  else if (now - Date.parse(status.lastBackup) > STALE_BACKUP_MS) found.push('last backup over 26 h ago');
  if (status.certificateExpiry && Date.parse(status.certificateExpiry) - now < 14 * 86_400_000)
    found.push('certificate expires within 14 days');
  return found;
}

const RANK: Record<string, number> = { Degraded: 0, Failed: 0, Provisioning: 1, Pending: 2, Suspended: 3, Ready: 4 };

type IndexRow = TenantIndex['rows'][number];

function key(t: IndexRow, status: WorkspaceSummary | undefined, sort: OverviewSort): string | number {
  switch (sort) {
    case 'name':
      return t.displayName.toLowerCase();
    case 'id':
      return t.id;
    case 'created':
      return t.createdAt.getTime();
    case 'status':
      // Problems first when ascending: what needs attention comes to the top.
      return status ? (status.ready ? 5 : (RANK[status.phase] ?? 1)) : -1;
    case 'backup':
      return status?.lastBackup ?? '';
    case 'drill':
      return status?.lastVerified ?? '';
    case 'certificate':
      return status?.certificateExpiry ?? '\uffff';
  }
}

type Sorted = { t: IndexRow; status: WorkspaceSummary | undefined; key: string | number }[];

/**
 * Sorted lists by viewer and query, while the index and the health map are
 * the same objects (both are replaced, not changed, when anything changes)
 * and for at most 5 s (what counts as a stale backup moves with the clock).
 * Paging through a list, or many people looking at it, sorts it once.
 */
const sortedLists = new Map<string, { index: TenantIndex; health: unknown; at: number; all: Sorted }>();

export function overview(
  index: TenantIndex,
  viewer: Viewer,
  query: OverviewQuery,
  health: ReadonlyMap<string, WorkspaceSummary> | undefined,
): Page<OverviewRow> {
  const pageSize = Math.min(Math.max(query.pageSize ?? 25, 1), 200);
  const page = Math.max(query.page ?? 1, 1);
  const now = Date.now();
  const all = sortedList(index, viewer, query, health, now);
  const items = all.slice((page - 1) * pageSize, page * pageSize).map(({ t, status }): OverviewRow => ({
    id: t.id,
    displayName: t.displayName,
    workspace: t.workspace,
    createdAt: t.createdAt.toISOString(),
    sso: [t.oidc ? 'OIDC' : '', t.saml ? 'SAML' : ''].filter(Boolean).join(', '),
    totpRequired: t.totpRequired,
    users: t.users,
    status: status ?? null,
    problems: health ? problemsOf(status ?? null, now) : [],
  }));
  return { items, total: all.length, page, pageSize };
}

function sortedList(
  index: TenantIndex,
  viewer: Viewer,
  query: OverviewQuery,
  health: ReadonlyMap<string, WorkspaceSummary> | undefined,
  now: number,
): Sorted {
  const sort = query.sort ?? 'name';
  const text = query.q?.trim().toLowerCase();
  const memoKey = JSON.stringify([viewer.tenantId, sort, query.desc ?? false, text ?? '', query.problems ?? false]);
  const memo = sortedLists.get(memoKey);
  if (memo && memo.index === index && memo.health === health && now - memo.at < 5_000) return memo.all;
  // Sort keys for every visible tenant; whole rows only for the page shown.
  let all: Sorted = [];
  for (const t of index.rows) {
    if (viewer.tenantId !== null && t.id !== viewer.tenantId) continue;
    if (
      viewer.tenantId === null &&
      text &&
      !t.id.includes(text) &&
      !t.workspace.includes(text) &&
      !t.displayName.toLowerCase().includes(text)
    )
      continue;
    const status = health?.get(t.workspace);
    all.push({ t, status, key: key(t, status, sort) });
  }
  if (query.problems && health) all = all.filter((r) => problemsOf(r.status ?? null, now).length > 0);
  const direction = query.desc ? -1 : 1;
  all.sort(
    (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.t.id < b.t.id ? -1 : a.t.id > b.t.id ? 1 : 0) * direction,
  );
  if (sortedLists.size >= 64) sortedLists.clear();
  sortedLists.set(memoKey, { index, health, at: now, all });
  return all;
}
