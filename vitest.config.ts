import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two cores here: more workers than that only adds contention.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'kube/**/*.test.ts',
            'operator/**/*.test.ts',
            'console/**/*.test.ts',
            'app/**/*.test.ts',
            'test/unit/**/*.test.ts',
          ],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/chaos/**/*.test.ts'],
          environment: 'node',
          // One control plane for the whole run; each suite makes its own
          // namespaces and names, so files can run side by side.
          globalSetup: ['test/harness/global-setup.ts'],
          // Workspaces run real PostgreSQL pods on the run's node.
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
