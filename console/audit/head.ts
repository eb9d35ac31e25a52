// The signed statement that ends every audit export: how many entries the
// log had and the hash of the last one, signed with the installation's
// Ed25519 key. A chain alone cannot tell a log cut short or rewritten with
// recomputed hashes from the real one; a head signed by a key the auditor
// has pinned can.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './chain.js';

/** What the statement's `type` says, so that a signature made for anything else never passes as one. */
export const HEAD_TYPE = 'holdfast-audit-head/v1';

export interface HeadStatement {
  type: typeof HEAD_TYPE;
  /** Entries in the export, 1 through `entries`. */
  entries: number;
  /** The hash of entry `entries` (the genesis hash for an empty log). */
  head: string;
  signedAt: string;
  /** The signing key, as `holdfast audit verify --public-key` takes it. */
  publicKey: string;
  /** Ed25519 over the canonical JSON of every other field, base64url. */
  signature: string;
}

const PREFIX = 'ed25519:';

/** `ed25519:<base64url of the raw 32-byte key>`, short enough to read aloud and paste. */
export function publicKeyText(key: KeyObject): string {
  const jwk = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new Error('the audit signing key is not an Ed25519 key');
  return `${PREFIX}${jwk.x}`;
}

/** Reads a key written by publicKeyText; throws a message naming what to pass. */
export function parsePublicKey(text: string): KeyObject {
  const x = text.trim().startsWith(PREFIX) ? text.trim().slice(PREFIX.length) : '';
  if (!/^[A-Za-z0-9_-]{43}$/.test(x))
    throw new Error(
      `"${text}" is not an audit public key: pass it as the console's audit page shows it (ed25519: and 43 characters)`,
    );
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

/** Reads HOLDFAST_AUDIT_SIGNING_KEY (a PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes it). */
export function parsePrivateKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(
      `${source} is not a PEM private key (${String(err)}); create one with openssl genpkey -algorithm ed25519`,
      { cause: err },
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(
      `${source} is a ${key.asymmetricKeyType ?? 'unknown'} key; the audit log is signed with Ed25519: openssl genpkey -algorithm ed25519`,
    );
  return key;
}

function signedBytes(statement: Omit<HeadStatement, 'signature'>): Buffer {
  const { type, entries, head, signedAt, publicKey } = statement;
  return Buffer.from(canonicalJson({ type, entries, head, signedAt, publicKey }));
}

export function signHead(key: KeyObject, entries: number, head: string, signedAt = new Date()): HeadStatement {
  const unsigned = {
    type: HEAD_TYPE,
    entries,
    head,
    signedAt: signedAt.toISOString(),
    publicKey: publicKeyText(key),
  } as const;
  return { ...unsigned, signature: sign(null, signedBytes(unsigned), key).toString('base64url') };
}

/**
 * Checks the statement's signature with `pinned` when given (the key the
 * auditor got from the console), else with the key the statement names.
 * Returns a problem, or undefined when the signature holds.
 */
export function headSignatureProblem(statement: HeadStatement, pinned?: KeyObject): string | undefined {
  if (pinned && statement.publicKey !== publicKeyText(pinned))
    return `the export is signed by ${statement.publicKey}, not by the pinned key ${publicKeyText(pinned)}: it was not made by that console`;
  const key = pinned ?? parsePublicKey(statement.publicKey);
  const signature = Buffer.from(statement.signature, 'base64url');
  if (!verify(null, signedBytes(statement), key, signature))
    return 'the signature of the closing statement does not match its content: the statement was changed';
  return undefined;
}
