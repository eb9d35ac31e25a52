// Backup artifacts are a promise to the customer: whatever Holdfast encrypts,
// the `age` CLI (Debian's, as a customer would install it) decrypts with an
// identity file, and the other way round.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decryptStream,
  encryptStream,
  generateIdentity,
  identityToRecipient,
} from '../../operator/backup/age-stream.js';

const run = promisify(execFile);

/** Runs the age CLI with `input` on stdin and returns its stdout. */
function age(args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('age', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = buffer(child.stdout);
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) out.then(resolve, reject);
      else reject(new Error(`age exited ${code}: ${err}`));
    });
    child.stdin.end(input);
  });
}

describe('backup encryption and the age CLI', () => {
  let dir: string;
  let identityFile: string;
  let identity: string;
  let recipient: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'holdfast-age-'));
    identityFile = path.join(dir, 'key.txt');
    await run('age-keygen', ['-o', identityFile]);
    identity = (await readFile(identityFile, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
    recipient = (await run('age-keygen', ['-y', identityFile])).stdout.trim();
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each([0, 1, 64 * 1024, 3 * 64 * 1024 + 5])(
    'age -d -i key.txt reads what Holdfast wrote (%i bytes)',
    async (size) => {
      const plain = randomBytes(size);
      const sealed = await buffer(Readable.from([plain]).pipe(await encryptStream([recipient])));
      expect(await age(['-d', '-i', identityFile], sealed)).toEqual(plain);
    },
  );

  it('Holdfast reads what age -r wrote, for every recipient it was written to', async () => {
    const other = await generateIdentity();
    const plain = randomBytes(300 * 1024);
    const sealed = await age(['-r', recipient, '-r', await identityToRecipient(other)], plain);
    expect(await buffer(Readable.from([sealed]).pipe(decryptStream([identity])))).toEqual(plain);
    expect(await buffer(Readable.from([sealed]).pipe(decryptStream([other])))).toEqual(plain);
  });

  it('age refuses an artifact cut short at a chunk boundary, as Holdfast does', async () => {
    const plain = randomBytes(2 * 64 * 1024 + 100);
    const sealed = await buffer(Readable.from([plain]).pipe(await encryptStream([recipient])));
    const cut = sealed.subarray(0, sealed.length - (100 + 16));
    await writeFile(path.join(dir, 'cut.age'), cut);
    await expect(age(['-d', '-i', identityFile], cut)).rejects.toThrow(/age exited 1/);
    await expect(buffer(Readable.from([cut]).pipe(decryptStream([identity])))).rejects.toThrow(/cut short/);
  });
});
