// Migration runner on Prisma's schema engine compiled to WebAssembly, driven through a driver
// adapter: the native schema engine (and so `prisma migrate`) cannot run on this machine.
// See README "Prisma on a closed network".
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import {
  bindMigrationAwareSqlAdapterFactory,
  DriverAdapterError,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from "@prisma/driver-adapter-utils";
import type {
  DiagnoseMigrationHistoryOutput,
  MigrationDirectory,
  MigrationList,
  SchemaEngine,
  SchemaFilter,
} from "@prisma/schema-engine-wasm/schema_engine_bg";
import * as engineGlue from "@prisma/schema-engine-wasm/schema_engine_bg";
import type pg from "pg";
import { PGLITE_EXTENSIONS } from "./pglite-extensions.js";
import { PROJECT_ROOT } from "./project-root.js";

export type MigrationTarget = { kind: "postgres"; connectionString: string } | { kind: "pglite"; pglite: PGlite };

export type Log = (msg: string) => void;

export const schemaPath = path.join(PROJECT_ROOT, "prisma", "schema.prisma");
export const migrationsDir = path.join(PROJECT_ROOT, "prisma", "migrations");
export const lockfileName = "migration_lock.toml";
const migrationFileName = "migration.sql";

export const noFilters: SchemaFilter = { externalTables: [], externalEnums: [] };

/**
 * Applies every migration not yet applied (= `prisma migrate deploy`); returns their names.
 * Replicas that start together may all call this: on PostgreSQL the schema engine holds
 * `pg_advisory_lock(72707369)` while it applies, so one applies and the others then find nothing
 * pending (test/stress/replicas.test.ts).
 */
export async function applyMigrations(target: MigrationTarget, log?: Log): Promise<string[]> {
  const migrationsList = await readMigrationsList();
  if (await isUpToDate(target, migrationsList)) return [];
  return withSchemaEngine(target, log, async (engine) => {
    const { appliedMigrationNames } = await engine.applyMigrations({
      migrationsList,
      filters: noFilters,
    });
    return appliedMigrationNames;
  });
}

/** How the database's migration history compares with prisma/migrations (= `prisma migrate status`). */
export async function migrationStatus(target: MigrationTarget, log?: Log): Promise<DiagnoseMigrationHistoryOutput> {
  const migrationsList = await readMigrationsList();
  return withSchemaEngine(target, log, (engine) =>
    engine.diagnoseMigrationHistory({
      migrationsList,
      optInToShadowDatabase: false,
      filters: noFilters,
    }),
  );
}

/**
 * Whether the database has applied every migration in prisma/migrations, unchanged (the same
 * checksum: the SHA-256 of migration.sql, as Prisma records it), with none failed or unknown here.
 * Then the engine would apply nothing, and is not loaded: it costs a start about 180 ms and its
 * WebAssembly about 28 MB that stay (bench/results/first-contact-2026-12-04.md). Anything else (a
 * new migration, a changed or failed one, a database ahead of the code, no history yet) goes to the
 * engine, which applies, reports or refuses as before.
 */
async function isUpToDate(target: MigrationTarget, list: MigrationList): Promise<boolean> {
  const local = new Map<string, string>();
  for (const directory of list.migrationDirectories) {
    if (directory.migrationFile.content.tag !== "ok") return false;
    local.set(directory.path, createHash("sha256").update(directory.migrationFile.content.value).digest("hex"));
  }
  let rows: MigrationRow[];
  try {
    rows = await readHistory(target);
  } catch (error) {
    // 42P01: no _prisma_migrations table yet (a new database).
    if ((error as { code?: unknown }).code === "42P01") return false;
    throw error;
  }
  const applied = new Map<string, string>();
  for (const row of rows) {
    if (row.rolled_back) continue;
    if (!row.finished || !local.has(row.migration_name)) return false;
    applied.set(row.migration_name, row.checksum);
  }
  return [...local].every(([name, checksum]) => applied.get(name) === checksum);
}

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished: boolean;
  rolled_back: boolean;
}

async function readHistory(target: MigrationTarget): Promise<MigrationRow[]> {
  const sql =
    "SELECT migration_name, checksum, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back FROM _prisma_migrations";
  if (target.kind === "pglite") return (await target.pglite.query<MigrationRow>(sql)).rows;
  const { default: pgModule } = await import("pg");
  const client = new pgModule.Client({ connectionString: target.connectionString, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query<MigrationRow>(sql)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Runs `work` with a schema engine connected to `target`, then frees the engine and whatever was
 * opened for it. Engine failures are rethrown as Errors carrying the engine's message.
 */
export async function withSchemaEngine<T>(
  target: MigrationTarget,
  log: Log | undefined,
  work: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const glue = await loadEngineGlue();
  const { factory, close } = await openAdapterFactory(target);
  let engine: SchemaEngine | undefined;
  try {
    const schemaText = await readFile(schemaPath, "utf8");
    engine = await glue.SchemaEngine.new(
      { datamodels: [[schemaPath, schemaText]] },
      (line: string) => log?.(engineLogMessage(line)),
      bindMigrationAwareSqlAdapterFactory(factory),
    );
    return await work(engine);
  } catch (error) {
    throw new Error(`Schema engine failed: ${describeEngineError(error).trim()}`, { cause: error });
  } finally {
    engine?.free();
    await close();
  }
}

async function openAdapterFactory(target: MigrationTarget): Promise<{
  factory: SqlMigrationAwareDriverAdapterFactory;
  close: () => Promise<void>;
}> {
  if (target.kind === "pglite") {
    // The caller owns the PGlite instance: nothing to close (the adapter's dispose() is a no-op).
    return { factory: await pgliteFactory(target.pglite), close: async () => {} };
  }
  // Our own pool, ended here, so nothing outlives the call whatever the engine disposes.
  // Without a connection timeout pg waits forever on an unreachable server.
  const { default: pgModule } = await import("pg");
  const pool = new pgModule.Pool({
    connectionString: target.connectionString,
    connectionTimeoutMillis: 10_000,
  });
  return { factory: await postgresFactory(pool), close: () => pool.end() };
}

/*
 * Both adapters mishandle executeScript, which the engine uses to run each migration.sql:
 * - pglite-prisma-adapter 0.7.2 does not await PGlite's exec(): a failing migration is recorded
 *   as applied and its error becomes an unhandled rejection.
 * - @prisma/adapter-pg 7.10.1 splits the script on every ";" (breaking on semicolons in comments,
 *   string literals or function bodies) and runs the pieces one by one, so a failure leaves the
 *   earlier statements applied.
 * Both get an executeScript that sends the whole script as one simple-protocol query, which
 * PostgreSQL runs as a single implicit transaction, as Prisma's native engine does.
 */

/** PGlite's packages are loaded only for a PGlite target (see src/db/client.ts pgliteEngine). */
async function pgliteFactory(pglite: PGlite): Promise<SqlMigrationAwareDriverAdapterFactory> {
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("pglite-prisma-adapter"),
  ]);
  const inner = new PrismaPGlite(pglite);
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: async () => withWholeScripts(await inner.connect(), (sql) => pglite.exec(sql)),
    // Used by the "dev" commands (scripts/create-migration.ts). The adapter's own shadow database
    // is never closed, this one is closed when the engine disposes of it.
    connectToShadowDb: async () => {
      const shadow = new PGlite("memory://", { extensions: PGLITE_EXTENSIONS });
      const adapter = withWholeScripts(await new PrismaPGlite(shadow).connect(), (sql) => shadow.exec(sql));
      adapter.dispose = () => shadow.close();
      return adapter;
    },
  };
}

async function postgresFactory(pool: pg.Pool): Promise<SqlMigrationAwareDriverAdapterFactory> {
  const { PrismaPg } = await import("@prisma/adapter-pg");
  const inner = new PrismaPg(pool);
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: async () => withWholeScripts(await inner.connect(), (sql) => pool.query(sql)),
    // adapter-pg's shadow database can end up being the main database (see PRISMA.md): refuse.
    connectToShadowDb: () =>
      Promise.reject(
        new Error("no shadow database on PostgreSQL: create migrations with `npm run db:migration:create`"),
      ),
  };
}

function withWholeScripts(adapter: SqlDriverAdapter, run: (script: string) => Promise<unknown>): SqlDriverAdapter {
  adapter.executeScript = async (script) => {
    try {
      await run(script);
    } catch (error) {
      throw toDriverAdapterError(error);
    }
  };
  return adapter;
}

type PostgresErrorFields = {
  code: string;
  message: string;
  severity?: string;
  detail?: string;
  column?: string;
  hint?: string;
};

/** The engine only reports a database error's message when it comes as a DriverAdapterError. */
function toDriverAdapterError(error: unknown): unknown {
  if (!isPostgresError(error)) return error;
  return new DriverAdapterError({
    kind: "postgres",
    code: error.code,
    severity: error.severity ?? "ERROR",
    message: error.message,
    detail: error.detail,
    column: error.column,
    hint: error.hint,
  });
}

function isPostgresError(error: unknown): error is PostgresErrorFields {
  return error instanceof Error && typeof (error as Partial<PostgresErrorFields>).code === "string";
}

let engineGlueReady: Promise<typeof engineGlue> | undefined;

/**
 * The package's main entry imports the .wasm file as an ES module, which only bundlers support,
 * so instantiate it by hand once per process and bind it to the JS glue.
 */
function loadEngineGlue(): Promise<typeof engineGlue> {
  engineGlueReady ??= instantiateEngine().catch((error: unknown) => {
    engineGlueReady = undefined;
    throw error;
  });
  return engineGlueReady;
}

async function instantiateEngine(): Promise<typeof engineGlue> {
  const require = createRequire(import.meta.url);
  const glueFile = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
  const wasmBytes = await readFile(path.join(path.dirname(glueFile), "schema_engine_bg.wasm"));
  const { instance } = await WebAssembly.instantiate(wasmBytes, {
    "./schema_engine_bg.js": engineGlue as unknown as WebAssembly.ModuleImports,
  });
  engineGlue.__wbg_set_wasm(instance.exports);
  const start = instance.exports.__wbindgen_start;
  if (typeof start === "function") start();
  return engineGlue;
}

/** Reads prisma/migrations the way the Prisma CLI does; a missing folder is an empty history. */
export async function readMigrationsList(): Promise<MigrationList> {
  const lockfileContent = await readFile(path.join(migrationsDir, lockfileName), "utf8").catch(() => null);
  return {
    baseDir: migrationsDir,
    lockfile: { path: lockfileName, content: lockfileContent },
    shadowDbInitScript: "",
    migrationDirectories: await readMigrationDirectories(),
  };
}

async function readMigrationDirectories(): Promise<MigrationDirectory[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [];
    throw error;
  });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(names.map(readMigrationDirectory));
}

async function readMigrationDirectory(name: string): Promise<MigrationDirectory> {
  // The engine stores `path` as the migration's name, so it must be the folder name only.
  // A missing or unreadable script is passed on as an error for the engine to report.
  const content = await readFile(path.join(migrationsDir, name, migrationFileName), "utf8").then(
    (value) => ({ tag: "ok" as const, value }),
    (error: Error) => ({ tag: "error" as const, value: error.message }),
  );
  return { path: name, migrationFile: { path: migrationFileName, content } };
}

/** The engine logs JSON lines (tracing events); keep their message ("Applying `<name>`" etc.). */
function engineLogMessage(line: string): string {
  try {
    const event = JSON.parse(line) as { fields?: { message?: unknown } };
    if (typeof event.fields?.message === "string") return event.fields.message;
  } catch {
    // Not JSON: pass it on as it is.
  }
  return line.trimEnd();
}

/** The engine rejects with Errors or with plain objects, depending on where the failure arose. */
function describeEngineError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && "message" in error) {
    return String(error.message);
  }
  return typeof error === "string" ? error : JSON.stringify(error);
}
