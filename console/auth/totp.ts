// TOTP second factor (RFC 6238: 30 s steps, 6 digits, SHA-1, as every
// authenticator app expects) and single-use recovery codes.
import { createHash, randomBytes } from 'node:crypto';
import { generateSecret, generateURI, verify } from 'otplib';

export function newTotpSecret(): string {
  return generateSecret();
}

export function totpUri(secret: string, account: string): string {
  return generateURI({ issuer: 'Holdfast', label: account, secret });
}

/**
 * Checks a code, allowing one step of clock drift either way, and refuses a
 * step at or before the last one accepted so that a code works only once.
 * Returns the step to store, or undefined.
 */
export async function checkTotp(secret: string, code: string, lastStep: number | null): Promise<number | undefined> {
  if (!/^\d{6}$/.test(code.trim())) return undefined;
  const result = await verify({
    secret,
    token: code.trim(),
    epochTolerance: 30,
    ...(lastStep != null ? { afterTimeStep: lastStep } : {}),
  });
  // The TOTP result carries the matched step; the HOTP half of the union does not.
  return result.valid && 'timeStep' in result && typeof result.timeStep === 'number' ? result.timeStep : undefined;
}

/** Ten codes like `k7rq-2mxd-p9vt`, shown once; only their hashes are kept. */
export function newRecoveryCodes(count = 10): string[] {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  return Array.from({ length: count }, () => {
    const bytes = randomBytes(12);
    const chars = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
    return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
  });
}

export function recoveryCodeHash(code: string): string {
  return createHash('sha256').update(code.trim().toLowerCase()).digest('hex');
}
