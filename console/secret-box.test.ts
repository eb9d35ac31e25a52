import { describe, expect, it } from 'vitest';
import { SecretBox } from './secret-box.js';

describe('SecretBox', () => {
  const key = SecretBox.generateKey();
  const box = SecretBox.parse(key);

  it('seals so that the stored text does not hold the secret, and opens it again', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXP', 'totp:u1');
    expect(sealed).toMatch(/^hf1:[0-9a-f]{8}:/);
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.seal('JBSWY3DPEHPK3PXP', 'totp:u1')).not.toBe(sealed);
    expect(box.open(sealed, 'totp:u1')).toBe('JBSWY3DPEHPK3PXP');
  });

  it('does not open a value moved to another row, or changed', () => {
    const sealed = box.seal('s3cret', 'totp:u1');
    expect(() => box.open(sealed, 'totp:u2')).toThrow('does not open');
    const body = Buffer.from(sealed.split(':')[2]!, 'base64');
    body[14] = body[14]! ^ 1;
    const flipped = `${sealed.split(':').slice(0, 2).join(':')}:${body.toString('base64')}`;
    expect(() => box.open(flipped, 'totp:u1')).toThrow('does not open');
    expect(() => box.open('s3cret', 'totp:u1')).toThrow('is not a sealed value');
  });

  it('opens under an older key listed after the newest, and seals only under the newest', () => {
    const newer = SecretBox.generateKey();
    const old = box.seal('s3cret', 'c');
    const both = SecretBox.parse(`${newer}, ${key}`);
    expect(both.open(old, 'c')).toBe('s3cret');
    expect(both.isCurrent(old)).toBe(false);
    expect(both.isCurrent(both.seal('s3cret', 'c'))).toBe(true);
    expect(() => SecretBox.parse(newer).open(old, 'c')).toThrow(
      /sealed under key [0-9a-f]{8}, which HOLDFAST_SECRETS_KEY does not hold/,
    );
  });

  it('refuses a key that is not 32 bytes of base64, saying how to make one', () => {
    expect(() => SecretBox.parse('hunter2')).toThrow(
      'HOLDFAST_SECRETS_KEY: key 1 is not 32 bytes in base64: make one with `openssl rand -base64 32`',
    );
    expect(() => SecretBox.parse(' , ')).toThrow('HOLDFAST_SECRETS_KEY is empty');
    expect(SecretBox.parse(key.replace(/=+$/, '')).isCurrent(box.seal('x', 'c'))).toBe(true);
  });
});
