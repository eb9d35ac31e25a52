import { describe, expect, it } from 'vitest';
import { trustedProxies } from './proxies.js';

describe('trustedProxies', () => {
  it('trusts no proxy unless told which', () => {
    expect(trustedProxies({})).toBe(false);
    expect(trustedProxies({ HOLDFAST_TRUST_PROXY: 'false', HOLDFAST_TRUSTED_PROXIES: ' ' })).toBe(false);
  });

  it('takes addresses and CIDRs of both families', () => {
    expect(trustedProxies({ HOLDFAST_TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.5,fd00::/8,::1' })).toEqual([
      '10.0.0.0/8',
      '192.168.1.5',
      'fd00::/8',
      '::1',
    ]);
  });

  it.each(['10.0.0.0/33', 'proxy.internal', '10.0.0.0/8/1', '10.0.0/8', '::1/129', '10.0.0.0/x'])(
    'refuses %s, naming it',
    (entry) => {
      expect(() => trustedProxies({ HOLDFAST_TRUSTED_PROXIES: `10.0.0.1,${entry}` })).toThrow(
        `HOLDFAST_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR`,
      );
    },
  );

  it('refuses HOLDFAST_TRUST_PROXY=true, which believed whatever the client wrote, and says what to set', () => {
    expect(() => trustedProxies({ HOLDFAST_TRUST_PROXY: 'true' })).toThrow(
      'set HOLDFAST_TRUSTED_PROXIES to the addresses or CIDRs of your proxies',
    );
  });
});
