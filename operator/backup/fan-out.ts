// One artifact, streamed once, stored at every destination at the same time.
// A destination that fails loses only its copy; the others are still written.
// A copy is made final only when the producer vouches for the whole stream
// (pg_dump exited 0, the export read every table) and the destination holds
// exactly the bytes that went out: a stream cut short never looks complete.
import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Destination, Expected } from './destinations.js';

/** Fans one stream out to every destination's upload; a failed branch is dropped, not the others. */
class FanOut extends Writable {
  private readonly hash = createHash('sha256');
  size = 0;
  /** Size and sha256 of everything written, once the writer has ended; rejected if it is destroyed first. */
  readonly expected: Promise<Expected>;
  private settle!: { resolve: (e: Expected) => void; reject: (err: Error) => void };

  constructor(
    private readonly branches: { name: string; stream: PassThrough; error?: unknown }[],
    private readonly what: string,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.expected = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.expected.catch(() => undefined);
  }

  /** Branches still taking data: a failed upload may have destroyed its stream before its error is known here. */
  private live() {
    return this.branches.filter((b) => b.error === undefined && !b.stream.destroyed);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    const live = this.live();
    if (live.length === 0) {
      const why = this.branches
        .map((b) => `${b.name}: ${b.error instanceof Error ? b.error.message : 'its upload stopped'}`)
        .join('; ');
      done(new Error(`no destination could take the ${this.what} (${why})`));
      return;
    }
    const waits: Promise<void>[] = [];
    for (const b of live) {
      if (b.stream.write(chunk)) continue;
      waits.push(
        new Promise((resolve) => {
          const go = () => {
            b.stream.off('drain', go);
            b.stream.off('close', go);
            resolve();
          };
          b.stream.on('drain', go);
          b.stream.on('close', go);
          // Destroyed already: 'close' may have gone by.
          if (b.stream.destroyed) go();
        }),
      );
    }
    if (waits.length === 0) done();
    else void Promise.all(waits).then(() => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.settle.resolve({ size: this.size, sha256: this.hash.digest('hex') });
    for (const b of this.live()) b.stream.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.settle.reject(err ?? new Error(`the ${this.what} stream was closed before its end`));
    done(err);
  }
}

export type CopyOutcome = { phase: 'Stored' } | { phase: 'Failed'; message: string };

export interface Distributed {
  /** Size and SHA-256 of the artifact, as every stored copy holds it. */
  expected: Expected;
  stored: Destination[];
  failed: { destination: string; message: string }[];
}

/**
 * Stores what `produce` writes as `key` at every destination. `produce`
 * writes the whole artifact into the sink (ending it) and resolves once its
 * source vouches for it; when it rejects, no copy is made final and its error
 * is thrown. Throws too when no copy was stored.
 */
export async function distribute(opts: {
  key: string;
  destinations: Destination[];
  /** "backup", "export": named in errors. */
  what: string;
  produce: (sink: Writable) => Promise<void>;
  onCopy?: (index: number, outcome: CopyOutcome) => Promise<void>;
  log: Logger;
}): Promise<Distributed> {
  const { key, what, log } = opts;
  const branches = opts.destinations.map(
    (d): { name: string; stream: PassThrough; error?: unknown; dest: Destination } => {
      // A branch is destroyed with the reason the artifact failed; its upload
      // reports that reason, even one that had read to the end already.
      const stream = new PassThrough({ highWaterMark: 1 << 20 }).on('error', () => undefined);
      return { name: d.name, stream, dest: d };
    },
  );
  const fan = new FanOut(branches, what);
  // The producer starts in this tick: a child's output must be piped the tick it is spawned.
  const produced = opts.produce(fan);
  produced.catch(() => undefined);
  // Both are awaited: a child may exit before its last bytes have passed the fan-out.
  const verdict = Promise.all([produced, fan.expected]).then(([, expected]) => expected);
  verdict.catch(() => undefined);
  const uploads = branches.map((b, i) =>
    b.dest
      .upload(key, b.stream, () => verdict)
      .then(() => opts.onCopy?.(i, { phase: 'Stored' }))
      .catch(async (err: unknown) => {
        b.error = err;
        b.stream.destroy();
        log.warn({ destination: b.name, err }, `a copy of the ${what} failed`);
        await opts.onCopy?.(i, { phase: 'Failed', message: (err as Error).message });
      }),
  );
  try {
    await produced;
  } catch (err) {
    // Uploads not yet failed are ended short and their verdict is a rejection: nothing is made final.
    for (const b of branches) if (b.error === undefined) b.stream.destroy(err as Error);
    await Promise.allSettled(uploads);
    throw err;
  }
  await Promise.all(uploads);
  const expected = await fan.expected;
  const stored = branches.filter((b) => b.error === undefined);
  const failed = branches
    .filter((b) => b.error !== undefined)
    .map((b) => ({ destination: b.name, message: (b.error as Error).message }));
  if (stored.length === 0)
    throw new Error(
      `no copy of the ${what} was stored: ${failed.map((f) => `${f.destination}: ${f.message}`).join('; ')}`,
    );
  return { expected, stored: stored.map((b) => b.dest), failed };
}
