import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { inject } from "vitest";
import { type Config, loadConfig } from "../../src/config.js";
import { createDatabase, type Database } from "../../src/db/client.js";
import { PGLITE_EXTENSIONS } from "../../src/db/pglite-extensions.js";
import { adminQuery, withDatabase } from "./pg-admin.js";

export { adminQuery } from "./pg-admin.js";

export type DbKind = "pglite" | "postgres";

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL names a server we may create databases on. */
export const DB_KINDS: DbKind[] = process.env.TEST_DATABASE_URL ? ["pglite", "postgres"] : ["pglite"];

export interface TestDatabase {
  kind: DbKind;
  database: Database;
  config: Config;
  /** postgresql:// URL of this test's own database (postgres leg only). */
  url: string | null;
  close(): Promise<void>;
}

/** Tests send many requests with one token: the request rate limit is on, but far away. */
export const TEST_ENV = { RATE_LIMIT_PER_MINUTE: "1000000" };

/** A fresh, migrated database of its own for one test file. */
export async function openTestDatabase(kind: DbKind, env: Record<string, string> = {}): Promise<TestDatabase> {
  if (kind === "pglite") {
    const config = loadConfig({ NODE_ENV: "test", DATA_DIR: "memory://", ...TEST_ENV, ...env });
    const template = readFileSync(inject("pgliteTemplate"));
    const pglite = new PGlite({ loadDataDir: new Blob([template]), extensions: PGLITE_EXTENSIONS });
    const database = await createDatabase(config, { pglite, logQueries: true });
    return { kind, database, config, url: null, close: () => database.close() };
  }
  const serverUrl = process.env.TEST_DATABASE_URL as string;
  const name = `igw_t_${randomBytes(6).toString("hex")}`;
  await adminQuery(serverUrl, `CREATE DATABASE ${name}`);
  const url = withDatabase(serverUrl, name);
  const config = loadConfig({ NODE_ENV: "test", DATABASE_URL: url, ...TEST_ENV, ...env });
  const database = await createDatabase(config, { logQueries: true });
  await database.migrate();
  return {
    kind,
    database,
    config,
    url,
    close: async () => {
      await database.close();
      await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A fresh database of `kind` for an in-process server (migrated by the server's start). */
export async function serverDatabase(kind: DbKind): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  if (kind === "pglite") return { env: { DATA_DIR: "memory://" }, drop: async () => {} };
  const serverUrl = process.env.TEST_DATABASE_URL as string;
  const name = `igw_t_${randomBytes(6).toString("hex")}`;
  await adminQuery(serverUrl, `CREATE DATABASE ${name}`);
  return {
    env: { DATABASE_URL: withDatabase(serverUrl, name) },
    drop: () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
