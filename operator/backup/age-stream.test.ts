import { randomBytes } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { Decrypter, Encrypter } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { decryptStream, encryptStream, generateIdentity, identityToRecipient } from './age-stream.js';

const KiB = 1024;

/** Feeds `data` in pieces of irregular sizes, as a pipe from pg_dump would. */
function pieces(data: Buffer): Readable {
  const sizes = [1, 7, 4 * KiB, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 100 * KiB, 13];
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = sizes[i % sizes.length]!;
    out.push(data.subarray(at, at + size));
    at += size;
  }
  return Readable.from(out);
}

async function through(data: Buffer, transform: Transform): Promise<Buffer> {
  return buffer(pieces(data).pipe(transform));
}

describe('age streams', { timeout: 120_000 }, async () => {
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  const escrow = await generateIdentity();

  it.each([0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 3 * 64 * KiB, 1000 * KiB + 17])(
    'round-trips %i bytes, in the size the age format defines',
    async (size) => {
      const plain = randomBytes(size);
      const sealed = await through(plain, await encryptStream([recipient]));
      const chunks = Math.max(1, Math.ceil(size / (64 * KiB)));
      const header = sealed.indexOf('\n--- ') + sealed.subarray(sealed.indexOf('\n--- ') + 1).indexOf('\n') + 2;
      expect(sealed.length).toBe(header + 16 + size + chunks * 16);
      expect(await through(sealed, decryptStream([identity]))).toEqual(plain);
    },
  );

  it('is read by the age-encryption library, and reads what the library writes', async () => {
    const plain = randomBytes(200 * KiB + 5);
    const sealed = await through(plain, await encryptStream([recipient]));
    const d = new Decrypter();
    d.addIdentity(identity);
    expect(Buffer.from(await d.decrypt(sealed))).toEqual(plain);

    const e = new Encrypter();
    e.addRecipient(recipient);
    const theirs = Buffer.from(await e.encrypt(plain));
    expect(await through(theirs, decryptStream([identity]))).toEqual(plain);
  });

  it('opens for every recipient: the workspace key and each escrow key', async () => {
    const plain = randomBytes(70 * KiB);
    const sealed = await through(plain, await encryptStream([recipient, await identityToRecipient(escrow)]));
    expect(await through(sealed, decryptStream([identity]))).toEqual(plain);
    expect(await through(sealed, decryptStream([escrow]))).toEqual(plain);
  });

  it('refuses a key the file was not encrypted to, and says which key to use', async () => {
    const sealed = await through(randomBytes(10), await encryptStream([recipient]));
    await expect(through(sealed, decryptStream([escrow]))).rejects.toThrow(/none of the given identities/);
  });

  it('detects a changed byte in the header, in a chunk, and in the last chunk', async () => {
    const sealed = await through(randomBytes(150 * KiB), await encryptStream([recipient]));
    const flip = (at: number) => {
      const copy = Buffer.from(sealed);
      copy[at]! ^= 1;
      return copy;
    };
    await expect(through(flip(sealed.indexOf('\n--- ') + 6), decryptStream([identity]))).rejects.toThrow(
      /header is invalid/,
    );
    await expect(through(flip(sealed.length - 70 * KiB), decryptStream([identity]))).rejects.toThrow(/changed/);
    await expect(through(flip(sealed.length - 1), decryptStream([identity]))).rejects.toThrow(/changed or cut short/);
  });

  it('detects a file cut short, even exactly at a chunk boundary', async () => {
    const plain = randomBytes(3 * 64 * KiB);
    const sealed = await through(plain, await encryptStream([recipient]));
    const start = sealed.length - 3 * (64 * KiB + 16);
    for (const cut of [start + 64 * KiB + 16, start + 2 * (64 * KiB + 16), sealed.length - 5, start - 3]) {
      await expect(through(sealed.subarray(0, cut), decryptStream([identity]))).rejects.toThrow(/age:/);
    }
    await expect(through(sealed.subarray(0, 20), decryptStream([identity]))).rejects.toThrow(/ends inside its header/);
  });

  it('refuses input that is not age at all', async () => {
    await expect(through(randomBytes(200 * KiB), decryptStream([identity]))).rejects.toThrow(/age header/);
    await expect(buffer(Readable.from([]).pipe(decryptStream([identity])))).rejects.toThrow(/header/);
  });
});
