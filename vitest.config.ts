import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The rollout load tests measure (docs/benchmarks.md): `npm run test:load` runs them.
    exclude: process.env.GANTRY_LOAD_TESTS === '1' ? [] : ['test/e2e/rollout-load*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
