// `kubectl holdfast decrypt` against the age CLI: what age encrypts, the
// plugin opens byte for byte; a wrong key, a file cut short or a copy that is
// not its manifest's fails with what to do, and leaves no output behind.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

function plugin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'cli/kubectl-holdfast.ts'), ...args],
      { cwd: root, maxBuffer: 64 << 20, encoding: 'buffer' },
      (err, stdout, stderr) =>
        resolve({
          code: err ? Number(err.code ?? 1) : 0,
          stdout: stdout.toString('latin1'),
          stderr: stderr.toString(),
        }),
    );
  });
}

describe('kubectl holdfast decrypt', { timeout: 120_000 }, () => {
  let dir: string;
  let key: string;
  let plain: Buffer;
  let artifact: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-decrypt-'));
    key = path.join(dir, 'key.txt');
    await run('age-keygen', ['-o', key]);
    const recipient = (await readFile(key, 'utf8')).match(/public key: (age1\S+)/)![1]!;
    // Several 64 KiB chunks and a short last one.
    plain = Buffer.concat([Buffer.from('PGDMP'), randomBytes(300_000)]);
    await writeFile(path.join(dir, 'plain'), plain);
    artifact = path.join(dir, 'acme-20261130-040000.dump.age');
    await run('age', ['-r', recipient, '-o', artifact, path.join(dir, 'plain')]);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('opens what the age CLI encrypted, to a file or to standard output', async () => {
    const r = await plugin('decrypt', artifact, '-i', key);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = artifact.replace(/\.age$/, '');
    expect(r.stdout).toContain(`${out}: the pg_dump archive of ${artifact}`);
    expect(r.stdout).toContain(`restore it with: pg_restore --no-owner -d DATABASE ${out}`);
    expect((await readFile(out)).equals(plain)).toBe(true);

    const piped = await plugin('decrypt', artifact, '-i', key, '-o', '-');
    expect(piped.code).toBe(0);
    expect(Buffer.from(piped.stdout, 'latin1').equals(plain)).toBe(true);
  });

  it('a wrong key, a cut file or a copy its manifest does not describe: an error that says so, and no output', async () => {
    const other = path.join(dir, 'other.txt');
    await run('age-keygen', ['-o', other]);
    const wrong = await plugin('decrypt', artifact, '-i', other, '-o', path.join(dir, 'wrong.dump'));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/none of the given identities is a recipient of this file/);

    const cut = path.join(dir, 'cut.dump.age');
    await writeFile(cut, (await readFile(artifact)).subarray(0, 100_000));
    const short = await plugin('decrypt', cut, '-i', key);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/cut short|does not authenticate/);

    // The manifest next to the artifact says another size: the copy was not fetched whole.
    await writeFile(
      path.join(dir, 'acme-20261130-040000.json'),
      JSON.stringify({ backup: 'acme-20261130-040000', size: 12, sha256: '0'.repeat(64), database: {} }),
    );
    const mismatch = await plugin('decrypt', artifact, '-i', key, '-o', path.join(dir, 'mismatch.dump'));
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(
      /but its manifest says 12: the copy is incomplete or not this backup's; fetch it again/,
    );

    const notAKey = await plugin('decrypt', artifact, '-i', path.join(dir, 'plain'));
    expect(notAKey.code).toBe(1);
    expect(notAKey.stderr).toMatch(/holds no age identity/);

    // Nothing of the failed runs is left to look like a decrypted archive.
    const left = (await readdir(dir)).filter((f) => /wrong|cut\.dump$|mismatch|partial/.test(f));
    expect(left).toEqual([]);
  });

  it('usage errors name what is missing', async () => {
    const none = await plugin('decrypt', artifact);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/decrypt needs -i FILE/);
    const help = await plugin('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/kubectl holdfast status WORKSPACE/);
  });
});
