// pg_restore and psql as child processes, for restores into an empty
// database and in place: their exit, pg_restore's major version, the script
// it writes made fit for an older server, and a restore in one transaction
// that commits only once the copy is proven.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { libpqEnvironment, type DatabaseTarget } from './database.js';

/** A child process's end: resolved on exit 0, rejected with the tail of its stderr otherwise. */
export function exitOf(child: ChildProcess, what: string): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${what} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`)),
    );
  });
  exited.catch(() => undefined);
  // A child closing its input early (it failed) ends the stream with EPIPE; its own message says more.
  child.stdin?.on('error', () => undefined);
  return exited;
}

/** pg_restore's major version ("pg_restore (PostgreSQL) 17.7 (Debian …)"). */
export async function pgRestoreMajor(bin: string): Promise<number> {
  const { stdout } = await promisify(execFile)(bin, ['--version']);
  return Number(/\(PostgreSQL\) (\d+)/.exec(stdout)?.[1] ?? 0);
}

/**
 * pg_restore into an empty database in one transaction. A server of
 * pg_restore's own major (or newer) is restored into directly; an older one
 * (a Shared server) gets pg_restore's script with what it does not know left
 * out, through psql, in one transaction committed only at the end.
 */
export function restoreInto(
  job: { pgRestore?: string; target: DatabaseTarget },
  serverVersionNum: number,
  restoreMajor: number,
): {
  stdin: NodeJS.WritableStream;
  exited: Promise<void>;
  kill: () => void;
  /** The copy passed its checks (size, SHA-256): what pg_restore read may be committed. */
  proven: () => void;
  /** The copy was not read to its end: nothing may be committed. */
  unproven: () => void;
} {
  const env = libpqEnvironment(job.target) as NodeJS.ProcessEnv;
  const common = ['--no-owner', '--no-privileges', '--exit-on-error'];
  if (Math.floor(serverVersionNum / 10000) >= restoreMajor) {
    const direct = spawn(
      job.pgRestore ?? 'pg_restore',
      [...common, '--single-transaction', '-d', job.target.database],
      {
        env,
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    // pg_restore commits by itself at the end of its input, whose last chunk reaches it only once the copy is proven.
    return {
      stdin: direct.stdin,
      exited: exitOf(direct, 'pg_restore'),
      kill: () => direct.kill('SIGTERM'),
      proven: () => undefined,
      unproven: () => undefined,
    };
  }
  const script = spawn(job.pgRestore ?? 'pg_restore', [...common, '-f', '-'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const psql = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', job.target.database, '-o', '/dev/null'], {
    env,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const scripted = exitOf(script, 'pg_restore');
  const applied = exitOf(psql, 'psql');
  psql.stdin.write('BEGIN;\n');
  // COMMIT is written only once pg_restore has read the whole copy and the
  // copy is proven: a psql ended without it (the copy failed, kill()) rolls
  // everything back.
  let prove = () => {};
  let refuse = (_: Error) => {};
  const proof = new Promise<void>((resolve, reject) => {
    prove = resolve;
    refuse = reject;
  });
  proof.catch(() => undefined);
  const piped = pipeline(script.stdout, scriptForServer(serverVersionNum), psql.stdin, { end: false });
  piped.catch(() => undefined);
  const why = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );
  const exited = (async () => {
    try {
      await scripted;
      await piped;
      await proof;
    } catch (err) {
      // psql's own message first when it stopped by itself (an SQL error, after which pg_restore fails writing to it).
      const psqlStopped = psql.exitCode !== null;
      psql.kill('SIGTERM');
      const psqlError = await why(applied);
      throw (psqlStopped ? psqlError : undefined) ?? err;
    }
    psql.stdin.end('COMMIT;\n');
    await applied;
  })();
  exited.catch(() => undefined);
  return {
    stdin: script.stdin,
    exited,
    kill: () => {
      refuse(new Error('the restore was stopped'));
      script.kill('SIGTERM');
      psql.kill('SIGTERM');
    },
    proven: () => prove(),
    unproven: () => refuse(new Error('the copy was not read to its end')),
  };
}

/**
 * pg_restore writes a script for the newest server it knows: its prelude
 * sets `transaction_timeout`, which servers before 17 do not have (and a
 * direct restore leaves out for them). The prelude ends where the search
 * path is set; the line goes from it for an older server.
 */
export function scriptForServer(serverVersionNum: number): Transform {
  let prelude: Buffer | undefined = serverVersionNum >= 170000 ? undefined : Buffer.alloc(0);
  const release = (push: (b: Buffer) => void) => {
    push(Buffer.from(prelude!.toString('utf8').replace(/^SET transaction_timeout = 0;\n/m, '')));
    prelude = undefined;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (!prelude) return done(null, chunk);
      prelude = Buffer.concat([prelude, chunk]);
      if (prelude.includes("set_config('search_path'") || prelude.length > 1 << 20) release((b) => this.push(b));
      done();
    },
    flush(done: TransformCallback) {
      if (prelude) release((b) => this.push(b));
      done();
    },
  });
}
