// Streaming age encryption (https://age-encryption.org/v1) for backup
// artifacts: a customer decrypts them with the `age` CLI and nothing else.
//
// The age-encryption package handles what is subtle and small: identities,
// recipients, wrapping the file key into header stanzas and the header MAC.
// The payload is the bulk of a backup, so its STREAM (64 KiB chunks of
// ChaCha20-Poly1305, HKDF-SHA256 payload key) runs on node:crypto's native
// cipher, about ten times faster than the package's JavaScript one.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient, type Recipient } from 'age-encryption';

export { generateX25519Identity as generateIdentity, identityToRecipient };

const CHUNK = 64 * 1024;
const TAG = 16;
const NONCE = 16;
/** No real header is near this; a stream that has no header end by then is not age. */
const MAX_HEADER = 64 * 1024;

/** The header and the file key of a new age file for these recipients (age1… strings). */
async function newHeader(recipients: readonly string[]): Promise<{ header: Buffer; fileKey: Uint8Array }> {
  if (recipients.length === 0) throw new Error('an age file needs at least one recipient');
  let fileKey: Uint8Array | undefined;
  // Adds no stanza; it only learns the file key the package drew for this file.
  const witness: Recipient = {
    wrapFileKey(key) {
      fileKey = key.slice();
      return [];
    },
  };
  const encrypter = new Encrypter();
  for (const r of recipients) encrypter.addRecipient(r);
  encrypter.addRecipient(witness);
  const empty = Buffer.from(await encrypter.encrypt(new Uint8Array(0)));
  if (!fileKey) throw new Error('age: no file key was drawn');
  return { header: empty.subarray(0, headerEnd(empty)), fileKey };
}

/** Offset just past the header's MAC line, or -1 while the header is incomplete. */
function headerEnd(bytes: Buffer): number {
  const mac = bytes.indexOf('\n--- ');
  if (mac < 0) return -1;
  const eol = bytes.indexOf('\n', mac + 5);
  return eol < 0 ? -1 : eol + 1;
}

function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  // 11-byte big-endian counter, then the last-chunk flag.
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Concatenates pending buffers only when a whole chunk is wanted. */
class Chunker {
  private parts: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.length += b.length;
  }

  take(n: number): Buffer {
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.parts = rest.length ? [rest] : [];
    this.length = rest.length;
    return out;
  }
}

/**
 * A Transform from plaintext to an age file for `recipients`. The header is
 * written first; chunks follow as the plaintext arrives, so memory stays at
 * about two chunks whatever the size.
 */
export async function encryptStream(recipients: readonly string[]): Promise<Transform> {
  const { header, fileKey } = await newHeader(recipients);
  const nonce = randomBytes(NONCE);
  const key = payloadKey(fileKey, nonce);
  const pending = new Chunker();
  let counter = 0;
  const seal = (plain: Buffer, last: boolean): Buffer => {
    const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce(counter++, last), { authTagLength: TAG });
    const body = cipher.update(plain);
    cipher.final();
    return Buffer.concat([body, cipher.getAuthTag()]);
  };
  let started = false;
  const start = (t: Transform) => {
    if (!started) t.push(Buffer.concat([header, nonce]));
    started = true;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      start(this);
      pending.push(chunk);
      // A full chunk is sealed only once more data follows: the last chunk,
      // even a full one, carries the last-chunk flag.
      while (pending.length > CHUNK) this.push(seal(pending.take(CHUNK), false));
      done();
    },
    flush(done: TransformCallback) {
      start(this);
      this.push(seal(pending.take(CHUNK), true));
      done();
    },
  });
}

/**
 * A Transform from an age file to its plaintext, for any of `identities`
 * (AGE-SECRET-KEY-1… strings). A wrong key, a header or chunk that was
 * changed, or a file cut short fails the stream with an error that says so.
 */
export function decryptStream(identities: readonly string[]): Transform {
  const decrypter = new Decrypter();
  for (const id of identities) decrypter.addIdentity(id);
  const pending = new Chunker();
  let key: Buffer | undefined;
  let counter = 0;
  const open = (sealed: Buffer, last: boolean): Buffer => {
    if (sealed.length < TAG) throw new Error('age: the file is cut short (a chunk is incomplete)');
    const decipher = createDecipheriv('chacha20-poly1305', key!, chunkNonce(counter++, last), { authTagLength: TAG });
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    const plain = decipher.update(sealed.subarray(0, sealed.length - TAG));
    try {
      decipher.final();
    } catch (err) {
      throw new Error(
        last
          ? 'age: the last chunk does not authenticate: the file was changed or cut short'
          : 'age: a chunk does not authenticate: the file was changed',
        { cause: err },
      );
    }
    return plain;
  };
  const setUp = async (): Promise<boolean> => {
    if (key) return true;
    const all = pending.take(pending.length);
    const end = headerEnd(all);
    if (end < 0 || all.length < end + NONCE) {
      if (all.length > MAX_HEADER) throw new Error('age: no age header found: is this an age-encrypted file?');
      pending.push(all);
      return false;
    }
    if (!all.subarray(0, 22).equals(Buffer.from('age-encryption.org/v1\n'))) {
      throw new Error('age: not an age-encryption.org/v1 file');
    }
    let fileKey: Uint8Array;
    try {
      fileKey = await decrypter.decryptHeader(all.subarray(0, end));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(
        /no identity matched/.test(why)
          ? 'age: none of the given identities is a recipient of this file: use the key it was encrypted to'
          : `age: the header is invalid (${why})`,
        { cause: err },
      );
    }
    key = payloadKey(fileKey, all.subarray(end, end + NONCE));
    pending.push(all.subarray(end + NONCE));
    return true;
  };
  // Keep one sealed chunk back: only the end of the file tells whether it is the last.
  const drain = (t: Transform) => {
    while (pending.length > CHUNK + TAG) t.push(open(pending.take(CHUNK + TAG), false));
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      pending.push(chunk);
      setUp()
        .then((ready) => ready && drain(this))
        .then(() => done(), done);
    },
    flush(done: TransformCallback) {
      setUp()
        .then((ready) => {
          if (!ready) throw new Error('age: the file ends inside its header');
          drain(this);
          const last = open(pending.take(pending.length), true);
          if (last.length === 0 && counter > 1) throw new Error('age: the last chunk is empty');
          this.push(last);
        })
        .then(() => done(), done);
    },
  });
}
