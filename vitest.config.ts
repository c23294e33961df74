import { defineConfig } from "vitest/config";

// One run covers every package. Integration tests start real processes and
// servers, so they get generous timeouts; each test still bounds its own waits.
export default defineConfig({
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "examples/*/test/**/*.test.ts",
      "bench/test/**/*.test.ts",
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
  },
});
