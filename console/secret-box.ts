// Secrets the console must read back (TOTP seeds, OIDC client secrets, the
// audit signing key it made itself) are kept sealed in its database:
// AES-256-GCM under HOLDFAST_SECRETS_KEY, which comes from a Kubernetes Secret.
// A copy of the database alone gives none of them away.
//
// A sealed value reads `hf1:<key id>:<base64 of nonce | ciphertext | tag>`.
// The key id is the first bytes of the key's SHA-256, so a value names the key
// it needs; the context (e.g. `totp:<user id>`) is authenticated, so a value
// copied into another row does not open there.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const SECRETS_KEY_SETTING = 'HOLDFAST_SECRETS_KEY';
const PREFIX = 'hf1:';
const SEALED = /^hf1:([0-9a-f]{8}):([A-Za-z0-9+/]+={0,2})$/;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

interface Key {
  id: string;
  bytes: Buffer;
}

export class SecretBox {
  private readonly keys: Key[];

  /** keys: the first seals; every one opens (the others are kept while values are resealed). */
  private constructor(keys: Buffer[]) {
    this.keys = keys.map((bytes) => ({ id: createHash('sha256').update(bytes).digest('hex').slice(0, 8), bytes }));
  }

  /**
   * From the setting's text: one or more base64 keys of 32 bytes, separated by
   * commas, the newest first (an older key stays listed until the console has
   * resealed everything under the newest, which it does at start).
   */
  static parse(setting: string, name = SECRETS_KEY_SETTING): SecretBox {
    const parts = setting
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    if (parts.length === 0) throw new Error(`${name} is empty: ${HOW_TO_MAKE}`);
    return new SecretBox(
      parts.map((p, i) => {
        const bytes = Buffer.from(p, 'base64');
        if (bytes.length !== KEY_BYTES || bytes.toString('base64').replace(/=+$/, '') !== p.replace(/=+$/, ''))
          throw new Error(`${name}: key ${i + 1} is not ${KEY_BYTES} bytes in base64: ${HOW_TO_MAKE}`);
        return bytes;
      }),
    );
  }

  static generateKey(): string {
    return randomBytes(KEY_BYTES).toString('base64');
  }

  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  /** Whether the value is sealed under the newest key (else resealing it is due). */
  isCurrent(value: string): boolean {
    return value.startsWith(`${PREFIX}${this.keys[0]!.id}:`);
  }

  seal(plain: string, context: string): string {
    const key = this.keys[0]!;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.bytes, nonce);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([nonce, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${key.id}:${body.toString('base64')}`;
  }

  open(sealed: string, context: string): string {
    const match = SEALED.exec(sealed);
    if (!match) throw new Error(`the stored ${context} is not a sealed value`);
    const [, id, data] = match;
    const key = this.keys.find((k) => k.id === id);
    if (!key)
      throw new Error(
        `the stored ${context} is sealed under key ${id}, which ${SECRETS_KEY_SETTING} does not hold: ` +
          `put the key it was sealed with back (after the new one, separated by a comma)`,
      );
    const body = Buffer.from(data ?? '', 'base64');
    if (body.length < NONCE_BYTES + TAG_BYTES) throw new Error(`the stored ${context} is cut short`);
    const decipher = createDecipheriv('aes-256-gcm', key.bytes, body.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new Error(`the stored ${context} does not open under key ${id}: it was changed, or moved from another row`);
    }
  }
}

const HOW_TO_MAKE = 'make one with `openssl rand -base64 32`, keep it in a Secret, and set it from there';
