import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real daemons and processes; two cores are the budget.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
