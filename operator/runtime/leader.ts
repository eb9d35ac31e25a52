// Leader election on a coordination.k8s.io Lease, as client-go does it: the
// holder renews every `retryPeriodMs`; a candidate takes the Lease once it has
// seen no renewal for `leaseDurationMs` of its own clock (so clock skew between
// replicas does not matter); writes use the Lease's resourceVersion, so two
// candidates can never both win.
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  collectionPath,
  isConflict,
  isNotFound,
  microTime,
  objectPath,
  Rest,
  type ObjectMeta,
} from '../../kube/rest.js';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: ObjectMeta;
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export class LeaderElector {
  private readonly rest: Rest;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observed?: { holder: string; renewTime: string; at: number };
  /** The Lease as this replica last wrote it, while it holds it. */
  private written?: Lease;
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;

  constructor(
    kc: k8s.KubeConfig,
    private readonly opts: LeaderOptions,
    private readonly log: Logger,
  ) {
    this.rest = new Rest(kc);
    // Shorter than client-go's 15 s and 10 s, so that a standby takes over
    // within 15 s of a leader that died without releasing the Lease
    // (10 s unrenewed, plus at most one 2 s retry, plus its cache sync).
    this.leaseDurationMs = opts.leaseDurationMs ?? 10_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 7_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Resolves when this replica becomes the leader. If it then cannot renew
   * within the renew deadline because the apiserver does not answer, it
   * calls `onStalled` (stop working) and keeps trying: nobody can take the
   * Lease from an apiserver that is down, and when it answers again the
   * Lease is either still this replica's (renewed, then `onResumed`) or
   * another's (`onLost`). `onLost` is also called as soon as another replica
   * is seen holding it.
   */
  async acquire(onLost: () => void, on: { onStalled?: () => void; onResumed?: () => void } = {}): Promise<void> {
    while (!this.stopped) {
      if ((await this.tryAcquireOrRenew()) === 'held') {
        this.leading = true;
        this.log.info({ lease: `${this.opts.namespace}/${this.opts.name}` }, 'became leader');
        this.keepRenewing(onLost, on);
        return;
      }
      await sleep(this.retryPeriodMs);
    }
  }

  /** Gives the Lease up so a standby can take over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const path = objectPath('Lease', this.opts.name, this.opts.namespace);
      const lease = await this.rest.get<Lease>(path);
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microTime() };
      await this.rest.request('PUT', path, { body: lease });
      this.log.info('released leadership');
    } catch (err) {
      this.log.warn({ err: String(err) }, 'could not release the lease; it expires by itself');
    }
  }

  private keepRenewing(onLost: () => void, on: { onStalled?: () => void; onResumed?: () => void }): void {
    let lastRenewal = Date.now();
    let stalled = false;
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      const result = await this.tryAcquireOrRenew();
      if (result === 'held') {
        lastRenewal = Date.now();
        if (stalled) {
          stalled = false;
          this.log.warn('the apiserver answers again and the lease is still ours: resuming');
          on.onResumed?.();
        }
      } else if (result === 'other' || (result === 'conflict' && Date.now() - lastRenewal > this.renewDeadlineMs)) {
        this.leading = false;
        this.log.error({ result }, 'lost leadership: another replica holds the lease');
        onLost();
        return;
      } else if (!stalled && Date.now() - lastRenewal > this.renewDeadlineMs) {
        stalled = true;
        this.log.error('could not renew the lease in time: the apiserver does not answer; pausing until it does');
        on.onStalled?.();
      }
      this.timer = setTimeout(() => void tick(), this.retryPeriodMs);
    };
    this.timer = setTimeout(() => void tick(), this.retryPeriodMs);
  }

  /**
   * held: this replica holds the Lease now; other: another holds it and has
   * renewed it lately; conflict: someone wrote it first; unreachable: the
   * apiserver did not answer.
   */
  private async tryAcquireOrRenew(): Promise<'held' | 'other' | 'conflict' | 'unreachable'> {
    const { name, namespace, identity } = this.opts;
    const now = microTime();
    const durationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    const path = objectPath('Lease', name, namespace);
    if (this.leading && this.written) {
      // The holder renews the Lease it last wrote without reading it first,
      // as client-go does: one write every retry period at rest. A conflict
      // means someone wrote it since; the read below finds out who.
      const renewed: Lease = { ...this.written, spec: { ...this.written.spec, renewTime: now } };
      try {
        this.written = await this.rest.request<Lease>('PUT', path, { body: renewed });
        return 'held';
      } catch (err) {
        this.written = undefined;
        if (!isConflict(err)) {
          this.log.warn({ err: String(err) }, 'renewing the lease failed');
          return 'unreachable';
        }
      }
    }
    let lease: Lease;
    try {
      lease = await this.rest.get<Lease>(path);
    } catch (err) {
      if (!isNotFound(err)) {
        this.log.warn({ err: String(err) }, 'reading the lease failed');
        return 'unreachable';
      }
      try {
        this.written = await this.rest.request<Lease>('POST', collectionPath('Lease', namespace), {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        return 'held';
      } catch {
        return 'conflict'; // someone else created it first
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = spec.renewTime ? new Date(spec.renewTime).toISOString() : '';
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: Date.now() };
    }
    const heldByOther = holder !== '' && holder !== identity;
    const observedDuration = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (heldByOther && Date.now() < this.observed.at + observedDuration) return 'other';

    lease.spec = {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: holder === identity && spec.acquireTime ? spec.acquireTime : now,
      renewTime: now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
    };
    try {
      this.written = await this.rest.request<Lease>('PUT', path, { body: lease });
      return 'held';
    } catch (err) {
      if (isConflict(err)) return 'conflict';
      this.log.warn({ err: String(err) }, 'updating the lease failed');
      return 'unreachable';
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
