import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

/**
 * `npm run test:stress`: the slow tests with real processes (two replicas on one PostgreSQL, a
 * PostgreSQL restart, SIGTERM under load). One file at a time: they load the machine, and the
 * fault tests restart a PostgreSQL cluster of their own.
 */
export default defineConfig({
  resolve: base.resolve,
  test: {
    ...base.test,
    include: ["test/stress/**/*.test.ts"],
    exclude: ["node_modules/**"],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
