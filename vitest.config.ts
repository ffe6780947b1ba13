import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One `graphql` module for everything: Vite would otherwise load its ESM build while Node-resolved
    // dependencies (graphql-shield, yoga) load the CJS build, and two GraphQLError classes break
    // error handling (denials surface as "Unexpected error.").
    alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    // The slow process-level tests run on their own: `npm run test:stress` (vitest.stress.config.ts).
    exclude: ["test/stress/**", "node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    env: { NODE_ENV: "test" },
    globalSetup: ["test/global-setup.ts"],
  },
});
