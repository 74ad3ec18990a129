import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A config folder per test file: the chain key rekey makes on first use must not land in the real ~/.config.
    // End-to-end tests refuse a dist/ older than the sources (test/support/fresh-dist.ts).
    setupFiles: ['./test/support/isolated-config.ts', './test/support/fresh-dist.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // End-to-end tests spawn real CLI processes; two workers match the two cores here.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
