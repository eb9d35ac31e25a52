import { describe, expect, it } from 'vitest';
import { metricsAddress } from './metrics.js';

describe('HOLDFAST_CONSOLE_METRICS_ADDRESS', () => {
  it('defaults to port 9090, apart from the public port, and can be turned off', () => {
    expect(metricsAddress(undefined)).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(metricsAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(metricsAddress('off')).toBeUndefined();
  });

  it('names the setting and what to give when it is not host:port', () => {
    expect(() => metricsAddress('9090x')).toThrow(
      'HOLDFAST_CONSOLE_METRICS_ADDRESS is "9090x": give host:port (e.g. 0.0.0.0:9090), or off to serve no metrics',
    );
  });
});
