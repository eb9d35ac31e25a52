// Server-side apply that writes nothing when nothing changed. An object is
// left alone when the cached copy carries the hash of the same desired state
// (so a field dropped from the desired state still gets applied, and removed)
// and still holds every desired value (so drift made by someone else is
// undone).
import { createHash } from 'node:crypto';
import { pathOf, type KubeObject, type Rest } from './rest.js';
import type { WriteCounter } from './writes.js';

export const APPLIED_HASH = 'holdfast.io/applied-hash';
export const FIELD_MANAGER = 'holdfast-operator';

export function hashOf(obj: unknown): string {
  return createHash('sha256').update(canonical(obj)).digest('hex').slice(0, 16);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** True when every value in `want` is present and equal in `have`. */
export function isSubset(want: unknown, have: unknown): boolean {
  if (want === undefined) return true;
  if (Array.isArray(want)) {
    return Array.isArray(have) && want.length === have.length && want.every((w, i) => isSubset(w, have[i]));
  }
  if (want !== null && typeof want === 'object') {
    if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
    return Object.entries(want).every(([k, w]) => isSubset(w, (have as Record<string, unknown>)[k]));
  }
  // The apiserver normalises quantities ("1024Mi" stays, "1.0Gi" becomes "1Gi"):
  // compare as strings after JSON round-trip, which covers numbers and booleans.
  return want === have;
}

/** Adds the hash annotation the no-op check relies on. */
export function withHash<T extends KubeObject>(obj: T): T {
  const hash = hashOf(obj);
  return {
    ...obj,
    metadata: { ...obj.metadata, annotations: { ...(obj.metadata.annotations ?? {}), [APPLIED_HASH]: hash } },
  };
}

export function upToDate(desired: KubeObject, current: KubeObject | undefined): boolean {
  if (!current) return false;
  const stamped = withHash(desired);
  return (
    current.metadata?.annotations?.[APPLIED_HASH] === stamped.metadata.annotations?.[APPLIED_HASH] &&
    current.metadata?.deletionTimestamp === undefined &&
    isSubset(stamped, current)
  );
}

export const APPLY_PATCH = 'application/apply-patch+yaml';

/** Says why an existing object may not be written over, or undefined when it may. */
export type OwnershipGuard = (existing: KubeObject) => string | undefined;

/** An apply refused because the object exists and belongs to someone else. */
export class NotOwnedError extends Error {
  constructor(
    readonly object: KubeObject,
    message: string,
  ) {
    super(message);
    this.name = 'NotOwnedError';
  }
}
const RECENT_MS = 10_000;

export class Applier {
  /** What the apiserver answered to our latest applies, until the cache catches up. */
  private readonly recent = new Map<string, { obj: KubeObject; at: number }>();
  /** Namespaces this Applier created, and when. */
  private readonly created = new Map<string, number>();

  constructor(
    private readonly rest: Rest,
    private readonly writes: WriteCounter,
    private readonly fieldManager = FIELD_MANAGER,
  ) {}

  /**
   * Applies `desired` unless `current` (from the cache) already matches it.
   * With a guard, an object that exists but is missing from the cache (the
   * caches hold only labelled objects) is read first, and the guard decides
   * whether it may be written over: server-side apply with force would
   * otherwise take over anything of the same name.
   */
  async apply(
    desired: KubeObject,
    current: KubeObject | undefined,
    guard?: OwnershipGuard,
  ): Promise<'unchanged' | 'applied'> {
    const fresh = this.fresher(desired, current);
    let existing = fresh;
    if (guard && !existing && !this.inNewNamespace(desired)) {
      existing = await this.rest.find<KubeObject>(pathOf(desired));
      const problem = existing && guard(existing);
      if (existing && problem) throw new NotOwnedError(existing, problem);
    } else if (guard && existing) {
      const problem = guard(existing);
      if (problem) throw new NotOwnedError(existing, problem);
    }
    if (upToDate(desired, fresh)) return 'unchanged';
    const written = await this.rest.request<KubeObject>('PATCH', pathOf(desired), {
      body: withHash(desired),
      contentType: APPLY_PATCH,
      query: { fieldManager: this.fieldManager, force: 'true' },
    });
    this.writes.inc({ kind: desired.kind, verb: 'apply' });
    this.recent.set(pathOf(desired), { obj: written, at: Date.now() });
    if (desired.kind === 'Namespace' && guard && !existing) this.created.set(desired.metadata.name, Date.now());
    return 'applied';
  }

  /**
   * True for an object in a namespace this Applier created moments ago, when
   * it was not there: nothing but this operator has had the time to write
   * into it, so the object need not be read first to be sure it is not
   * someone else's. (The controller-manager's own ConfigMap and
   * ServiceAccount there bear names Holdfast never uses.)
   */
  private inNewNamespace(desired: KubeObject): boolean {
    const ns = desired.metadata.namespace;
    const at = ns === undefined ? undefined : this.created.get(ns);
    if (at === undefined) return false;
    if (Date.now() - at <= RECENT_MS) return true;
    this.created.delete(ns!);
    return false;
  }

  /** Keeps what the apiserver answered to a write made elsewhere (a status patch), as apply() does. */
  remember(written: KubeObject): void {
    this.recent.set(pathOf(written), { obj: written, at: Date.now() });
  }

  /**
   * The newer of the cached object and the one our own last apply returned.
   * Informers lag a write by a moment; deciding from the stale copy would
   * redo work (for a certificate: issue it twice).
   */
  fresher<T extends KubeObject>(like: KubeObject, cached: T | undefined): T | undefined {
    const key = pathOf(like);
    const entry = this.recent.get(key);
    // Only for the moment the cache lags; an old answer could hide a deletion.
    if (!entry || Date.now() - entry.at > RECENT_MS) {
      this.recent.delete(key);
      return cached;
    }
    const mine = entry.obj as T;
    try {
      // resourceVersions are etcd revisions: numbers that only grow.
      if (cached && BigInt(cached.metadata.resourceVersion ?? '0') >= BigInt(mine.metadata.resourceVersion ?? '0')) {
        this.recent.delete(key);
        return cached;
      }
    } catch {
      return cached;
    }
    return mine;
  }
}
