import { describe, expect, it } from 'vitest';
import { redact } from './log.js';

describe('audit values', () => {
  it('records that a secret changed, never the secret', () => {
    expect(
      redact({
        oidcClientSecret: 's3cret',
        passwordHash: '$argon2id$…',
        token: 'abc',
        totpSecret: 'JBSW',
        nested: { clientSecret: 'x' },
      }),
    ).toEqual({
      oidcClientSecret: '[redacted]',
      passwordHash: '[redacted]',
      token: '[redacted]',
      totpSecret: '[redacted]',
      nested: { clientSecret: '[redacted]' },
    });
  });

  it('keeps settings whose names only mention a secret kind', () => {
    expect(redact({ totpRequired: true, displayName: 'Acme', oidcClientSecret: null })).toEqual({
      totpRequired: true,
      displayName: 'Acme',
      oidcClientSecret: null,
    });
  });
});
