import { describe, expect, it } from 'vitest';
import { WorkQueue } from './queue.js';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('runs a key once however often it is added before it starts', async () => {
    const seen: string[] = [];
    const q = new WorkQueue({
      concurrency: 1,
      handler: async (k) => {
        seen.push(k);
        await tick(5);
      },
    });
    q.add('busy'); // occupies the only worker while the others are added
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.depth).toBe(2);
    await tick(50);
    expect(seen).toEqual(['busy', 'a', 'b']);
  });

  it('never runs one key twice at once, and reruns a key added while it ran', async () => {
    let running = 0,
      maxRunning = 0,
      runs = 0;
    let release!: () => void;
    const q = new WorkQueue({
      concurrency: 4,
      handler: async () => {
        running++;
        runs++;
        maxRunning = Math.max(maxRunning, running);
        if (runs === 1) await new Promise<void>((r) => (release = r));
        running--;
      },
    });
    q.add('k');
    await tick();
    q.add('k');
    q.add('k');
    await tick(5);
    expect(runs).toBe(1);
    release();
    await tick(5);
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('bounds concurrency', async () => {
    let running = 0,
      maxRunning = 0;
    const q = new WorkQueue({
      concurrency: 3,
      handler: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await tick(5);
        running--;
      },
    });
    for (let i = 0; i < 20; i++) q.add(`k${i}`);
    await tick(100);
    expect(maxRunning).toBe(3);
  });

  it('retries failures with growing delays, and a failing key does not block others', async () => {
    const attempts: number[] = [];
    const done: string[] = [];
    const start = Date.now();
    const q = new WorkQueue({
      concurrency: 1,
      baseDelayMs: 20,
      handler: async (k) => {
        if (k === 'bad') {
          attempts.push(Date.now() - start);
          throw new Error('boom');
        }
        done.push(k);
      },
    });
    q.add('bad');
    q.add('good1');
    q.add('good2');
    await tick(200);
    expect(done).toEqual(['good1', 'good2']);
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
    await q.shutdown();
  });

  it('requeues after the delay a handler asks for', async () => {
    let runs = 0;
    const q = new WorkQueue({
      concurrency: 1,
      handler: async () => (++runs === 1 ? { requeueAfterMs: 30 } : undefined),
    });
    q.add('k');
    await tick(10);
    expect(runs).toBe(1);
    await tick(50);
    expect(runs).toBe(2);
  });

  it('shutdown waits for in-flight work and takes no more', async () => {
    let finished = false;
    const q = new WorkQueue({
      concurrency: 1,
      handler: async () => {
        await tick(30);
        finished = true;
      },
    });
    q.add('k');
    await tick();
    await q.shutdown();
    expect(finished).toBe(true);
    q.add('later');
    expect(q.depth).toBe(0);
  });
});

describe('WorkQueue fairness', () => {
  it('runs an urgent key before a burst that was queued first, even one already waiting in it', async () => {
    const seen: string[] = [];
    const q = new WorkQueue({
      concurrency: 1,
      handler: async (k) => {
        seen.push(k);
        await tick(1);
      },
    });
    for (let i = 0; i < 100; i++) q.add(`new-${i}`);
    q.add('new-50', true); // an edit to one already waiting
    q.add('edited', true);
    q.add('edited'); // a later ordinary add does not demote it
    expect(q.depth).toBe(100);
    await tick(30);
    expect(seen.slice(0, 3)).toEqual(['new-0', 'new-50', 'edited']);
    expect(seen.filter((k) => k === 'new-50')).toHaveLength(1);
    await q.shutdown();
  });

  it('keeps an urgent add made while the key runs urgent for its rerun', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const q = new WorkQueue({
      concurrency: 1,
      handler: async (k) => {
        seen.push(k);
        if (seen.length === 1) await new Promise<void>((r) => (release = r));
      },
    });
    q.add('edited');
    await tick();
    for (let i = 0; i < 10; i++) q.add(`new-${i}`);
    q.add('edited', true);
    release();
    await tick(20);
    expect(seen.slice(0, 2)).toEqual(['edited', 'edited']);
    await q.shutdown();
  });
});

describe('WorkQueue pause', () => {
  it('starts nothing while paused, and everything queued once resumed', async () => {
    const seen: string[] = [];
    const q = new WorkQueue({ concurrency: 2, handler: async (k) => void seen.push(k) });
    q.pause();
    q.add('a');
    q.add('b');
    await tick(10);
    expect(seen).toEqual([]);
    expect(q.depth).toBe(2);
    q.resume();
    await tick(10);
    expect(seen).toEqual(['a', 'b']);
    await q.shutdown();
  });
});

describe('WorkQueue far-off requeues', () => {
  it('does not fire a requeue months away at once', async () => {
    let runs = 0;
    const q = new WorkQueue({
      concurrency: 1,
      handler: async () => (++runs === 1 ? { requeueAfterMs: 90 * 24 * 3600e3 } : undefined),
    });
    q.add('k');
    await tick(50);
    expect(runs).toBe(1);
    await q.shutdown();
  });
});
