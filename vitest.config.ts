import { defineConfig } from "vitest/config";

export default defineConfig({
  // Tests run against the TypeScript sources through the "source" export condition.
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
