import { describe, expect, it } from 'vitest';
import { TestLimit } from '../../console/tenants/connection-test.js';

/** A promise and the function that settles it. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('TestLimit', () => {
  it('runs one test at a time for a tenant, and tests of other tenants beside it', async () => {
    const limit = new TestLimit(10, () => 0);
    const first = deferred<string>();
    const running = limit.run('acme', () => first.promise);

    await expect(limit.run('acme', async () => 'second')).rejects.toThrow(
      'A connection test for this tenant is still running: wait for its result.',
    );
    await expect(limit.run('globex', async () => 'other tenant')).resolves.toBe('other tenant');

    first.resolve('first');
    await expect(running).resolves.toBe('first');
    await expect(limit.run('acme', async () => 'after')).resolves.toBe('after');
  });

  it('starts at most ten a minute for a tenant, failed ones included, and says when to try again', async () => {
    let now = 1_000_000;
    const limit = new TestLimit(10, () => now);
    for (let i = 0; i < 9; i++) await limit.run('acme', async () => i);
    await expect(
      limit.run('acme', async () => {
        throw new Error('the provider did not answer');
      }),
    ).rejects.toThrow('the provider did not answer');

    const refused = limit.run('acme', async () => 'eleventh');
    await expect(refused).rejects.toMatchObject({
      statusCode: 429,
      message: 'Test connection ran 10 times for this tenant in the last minute: try again in 60 s.',
    });

    now += 45_500;
    await expect(limit.run('acme', async () => 'too soon')).rejects.toThrow('try again in 15 s.');
    await expect(limit.run('globex', async () => 'other tenant')).resolves.toBe('other tenant');

    now += 14_500;
    await expect(limit.run('acme', async () => 'a minute later')).resolves.toBe('a minute later');
  });
});
