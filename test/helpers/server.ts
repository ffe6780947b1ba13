import { type Config, loadConfig } from "../../src/config.js";
import { createLogger, type Logger } from "../../src/observability/logger.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { type DbKind, serverDatabase, TEST_ENV } from "./db.js";

/** The real server in this process, listening on 127.0.0.1 on a port the system picks. */
export const LOCAL_LISTEN = { HOST: "127.0.0.1", PORT: "0" };

/**
 * A server with no database (nothing listens on port 1) that does not try to migrate one: for what
 * answers without it (/health, /metrics, /ready's 503).
 */
export const NO_DATABASE_ENV = {
  DATABASE_URL: "postgresql://postgres@127.0.0.1:1/nowhere",
  AUTO_MIGRATE: "false",
  ...LOCAL_LISTEN,
  LOG_LEVEL: "silent",
};

/**
 * Starts the real server in this process on 127.0.0.1 with a fresh database of its own (`kind`;
 * migrated by the start) and the tests' far-away request rate limit; `close()` stops it and drops
 * the database.
 */
export async function startTestServer(
  kind: DbKind,
  env: Record<string, string> = {},
  logger: Logger = createLogger("silent"),
): Promise<RunningServer & { config: Config }> {
  const database = await serverDatabase(kind);
  const config = loadConfig({ ...database.env, ...LOCAL_LISTEN, ...TEST_ENV, ...env });
  let running: RunningServer;
  try {
    running = await startServer(config, logger);
  } catch (error) {
    await database.drop();
    throw error;
  }
  return {
    ...running,
    config,
    async close() {
      try {
        await running.close();
      } finally {
        await database.drop();
      }
    },
  };
}
