// A work queue of keys, in the manner of client-go's: a key is queued at most
// once, is never processed by two workers at once (a key added while it is
// being processed runs again afterwards), failures retry with per-key
// exponential backoff, and at most `concurrency` keys are processed at a time.
// Bounded: it holds each key once, so never more than the objects watched.
// Fair: a key added `urgent` (a person's edit to a workspace that exists)
// goes ahead of the keys already waiting, so that a burst of a thousand
// creations does not make an edit wait for all of them.

const MAX_DELAY_MS = 24 * 3600 * 1000;

export type Outcome = { requeueAfterMs?: number } | void;
export type Handler = (key: string) => Promise<Outcome>;

export interface QueueOptions {
  concurrency: number;
  handler: Handler;
  /** First retry delay after a failure; doubles per consecutive failure. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  onError?: (key: string, err: unknown, retryInMs: number) => void;
  onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly urgent: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added while processing: they go back on the queue when done. */
  private readonly dirty = new Map<string, boolean>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly idleWaiters: (() => void)[] = [];
  private stopping = false;
  private paused = false;

  constructor(private readonly opts: QueueOptions) {}

  get depth(): number {
    return this.queue.length + this.urgent.length;
  }

  /** Queues the key; `urgent` puts it ahead of every key not urgent. */
  add(key: string, urgent = false): void {
    if (this.stopping) return;
    if (this.processing.has(key)) {
      this.dirty.set(key, urgent || (this.dirty.get(key) ?? false));
      return;
    }
    if (this.queued.has(key)) {
      if (!urgent || this.urgent.includes(key)) return;
      this.queue.splice(this.queue.indexOf(key), 1);
    }
    this.queued.add(key);
    (urgent ? this.urgent : this.queue).push(key);
    this.opts.onDepth?.(this.depth);
    this.pump();
  }

  /** Adds the key after a delay; an earlier pending delay for it wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopping) return;
    if (delayMs <= 0) return this.add(key);
    // Timers hold 32-bit milliseconds; a far-off requeue (a renewal in 60
    // days) simply comes back daily and is rescheduled.
    delayMs = Math.min(delayMs, MAX_DELAY_MS);
    const at = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Keys are still queued, but none is started until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Stops taking keys and resolves once in-flight handlers have finished. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.urgent.length = 0;
    this.queued.clear();
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.stopping && !this.paused && this.processing.size < this.opts.concurrency && this.depth > 0) {
      const key = (this.urgent.length > 0 ? this.urgent : this.queue).shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.opts.onDepth?.(this.depth);
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    let retryIn: number | undefined;
    try {
      const outcome = await this.opts.handler(key);
      this.failures.delete(key);
      if (outcome?.requeueAfterMs !== undefined) retryIn = outcome.requeueAfterMs;
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const base = this.opts.baseDelayMs ?? 500;
      retryIn = Math.min(base * 2 ** (n - 1), this.opts.maxDelayMs ?? 300_000);
      this.opts.onError?.(key, err, retryIn);
    } finally {
      this.processing.delete(key);
    }
    const again = this.dirty.get(key);
    if (again !== undefined) {
      this.dirty.delete(key);
      this.add(key, again);
    } else if (retryIn !== undefined) this.addAfter(key, retryIn);
    if (this.stopping && this.processing.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    this.pump();
  }
}
