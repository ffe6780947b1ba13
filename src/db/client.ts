import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import type { SqlDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import type { Config } from "../config.js";
import { PrismaClient } from "../generated/prisma/client.js";
import type { PoolStats } from "../observability/metrics.js";
import { type DataDirOrigin, prepareDataDir } from "./embedded-data-dir.js";
import { applyMigrations, type MigrationTarget } from "./migrate.js";
import { startCheckpoints } from "./pglite-checkpoints.js";
import { PGLITE_EXTENSIONS } from "./pglite-extensions.js";

export type Db = PrismaClient;

export interface Database {
  prisma: PrismaClient;
  kind: "postgres" | "pglite";
  /** Applies pending migrations; returns the names applied. */
  migrate(log?: (msg: string) => void): Promise<string[]>;
  /** Cheap round trip for /ready; rejects within DB_CONNECT_TIMEOUT. */
  ping(): Promise<void>;
  /**
   * Every SQL statement the client sends is reported here (tests and benchmarks count them). Only
   * with `createDatabase(config, { logQueries: true })`: Prisma's query events cost every query
   * some CPU, so production runs without them (and this throws).
   */
  onQuery(listener: (sql: string) => void): () => void;
  /** PostgreSQL only: the connection pool's counts (for /metrics); undefined on PGlite. */
  poolStats: (() => PoolStats) | undefined;
  close(): Promise<void>;
}

type DatabaseConfig = Pick<
  Config,
  "database" | "dbPoolSize" | "dbConnectTimeoutMs" | "dbStatementTimeoutMs" | "dbPreparedStatements"
>;

export interface DatabaseOptions {
  /** A PGlite instance to use instead of opening DATA_DIR (tests). */
  pglite?: PGlite;
  /** Report every SQL statement to `onQuery` listeners (tests, BENCH_COUNT_SQL). Off by default. */
  logQueries?: boolean;
  /** Where a new embedded data directory says how it was made (the fallback's one line goes to warn). */
  log?: { info(message: string): void; warn(message: string): void };
  /** Another snapshot archive for a new embedded data directory (tests of the fallback). */
  snapshotArchive?: string;
}

/**
 * The one place that creates a PrismaClient: PostgreSQL when DATABASE_URL is set, else PGlite (its
 * data directory made first if new, see src/db/embedded-data-dir.ts).
 */
export async function createDatabase(config: DatabaseConfig, options: DatabaseOptions = {}): Promise<Database> {
  const { database } = config;
  const engine =
    database.kind === "postgres"
      ? await postgresEngine(config, database.url)
      : await pgliteEngine(database.dataDir, options);
  const listeners = new Set<(sql: string) => void>();
  const prisma = options.logQueries
    ? new PrismaClient({ adapter: engine.adapter, log: [{ emit: "event", level: "query" } as const] })
    : new PrismaClient({ adapter: engine.adapter });
  if (options.logQueries) {
    (prisma as PrismaClient<"query">).$on("query", (e) => {
      for (const l of listeners) l(e.query);
    });
  }
  return {
    prisma,
    kind: engine.target.kind,
    migrate: (logFn) => applyMigrations(engine.target, logFn),
    // Bounded: /ready answers 503 within DB_CONNECT_TIMEOUT even when a connection hangs.
    ping: () => withTimeout(prisma.$queryRawUnsafe("SELECT 1"), config.dbConnectTimeoutMs, "database ping timed out"),
    onQuery: (l) => {
      if (!options.logQueries) throw new Error("onQuery needs createDatabase(config, { logQueries: true })");
      return subscribe(listeners, l);
    },
    poolStats: engine.poolStats,
    close: async () => {
      await prisma.$disconnect();
      await engine.close();
    },
  };
}

type Engine = {
  adapter: SqlDriverAdapterFactory;
  target: MigrationTarget;
  poolStats?: () => PoolStats;
  close(): Promise<void>;
};

async function postgresEngine(config: DatabaseConfig, connectionString: string): Promise<Engine> {
  // Loaded here only: on the embedded database the process holds neither (nor PGlite's on PostgreSQL).
  const [{ default: pg }, { PrismaPg }] = await Promise.all([import("pg"), import("@prisma/adapter-pg")]);
  // Our own pool (the adapter would make the same one) so that /metrics can read its counts.
  const pool = new pg.Pool({
    connectionString,
    max: config.dbPoolSize,
    connectionTimeoutMillis: config.dbConnectTimeoutMs,
    statement_timeout: config.dbStatementTimeoutMs,
    idle_in_transaction_session_timeout: config.dbStatementTimeoutMs * 2,
  });
  // An idle connection that PostgreSQL ends (a restart, an administrator, a dropped database) makes
  // the pool emit "error"; unheard, that is an uncaught exception that ends the process. The pool
  // has already dropped that connection, and the next query opens a new one: nothing to do.
  // (adapter-pg listens too, but only between its connect and its disposal.)
  pool.on("error", () => {});
  const adapter = new PrismaPg(
    pool,
    config.dbPreparedStatements ? { statementNameGenerator: statementNames(MAX_NAMED_STATEMENTS) } : {},
  );
  return {
    adapter,
    target: { kind: "postgres", connectionString },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: async () => {
      if (!pool.ended) await pool.end();
    },
  };
}

/** Distinct statement texts that get a name (per process; each connection prepares those it runs). */
const MAX_NAMED_STATEMENTS = 500;
/** A statement with more parameters (a long `IN` list, whose length varies) stays unnamed. */
const MAX_NAMED_STATEMENT_PARAMS = 100;
/**
 * An `IN` list of two or more parameters, as Prisma writes one (`IN ($1,$2,$3)`): its text changes with
 * the number of values, so each batch size would take a name of its own (any caller can send
 * `_entities` calls of 1, 2, … 99 representations, and ordinary traffic's batches vary too), use up the
 * names for good and leave every connection holding hundreds of prepared statements.
 */
const IN_LIST = /\bIN \(\$\d+,/;

/**
 * Names for Prisma's statements: the same text always gets the same name, so each connection
 * prepares it once (pg keeps the names it prepared per connection) and PostgreSQL parses it once
 * and reuses its plan, instead of parsing and planning it on every execution. For the short
 * statements of a request that was most of PostgreSQL's CPU time (bench/results/steps-2026-12-03-pg.md).
 * "" leaves a statement unnamed: one without parameters (pg then sends it as a simple query, which may
 * hold several statements), one with many or with an IN list of several parameters (IN lists of every
 * length would each be a statement of their own), and any beyond the first `limit` texts, which bounds
 * what each connection keeps prepared.
 */
export function statementNames(limit: number): (query: { sql: string; args: unknown[] }) => string {
  const names = new Map<string, string>();
  return ({ sql, args }) => {
    if (args.length === 0 || args.length > MAX_NAMED_STATEMENT_PARAMS || IN_LIST.test(sql)) return "";
    let name = names.get(sql);
    if (name === undefined) {
      if (names.size >= limit) return "";
      name = `igw_${names.size}`;
      names.set(sql, name);
    }
    return name;
  };
}

/**
 * The embedded PostgreSQL's settings, written to its data directory's postgresql.conf. Its default
 * 128 MB of shared buffers is the largest part of an idle PGlite's memory (WebAssembly memory only
 * grows): 16 MB holds this service's tables and indexes for development and demos, and brings an
 * opened data directory from about 310 MB to 170 MB of RSS. PGlite runs one backend (PostgreSQL's
 * single-user mode): 8 connection slots instead of 100 size its shared memory's per-connection parts
 * (locks, process entries) to what it uses, 1-2 MB (bench/results/memory-2026-12-04.md).
 */
const PGLITE_CONF = "shared_buffers = 16MB\nmax_connections = 8";

const createdFrom: Record<Exclude<DataDirOrigin, "existing">, string> = {
  snapshot: "created the embedded database from its snapshot",
  initdb: "created the embedded database with initdb",
};

async function pgliteEngine(dataDir: string, options: DatabaseOptions): Promise<Engine> {
  const given = options.pglite;
  // Loaded here only: with DATABASE_URL the process holds neither package (about 2.3 MB of heap,
  // bench/results/memory-2026-12-03.md).
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("pglite-prisma-adapter"),
  ]);
  // Tests hand in a PGlite loaded from a migrated snapshot; the service opens its data directory.
  const inMemory = dataDir.startsWith("memory://");
  const releaseLock = inMemory || given ? () => {} : lockDataDir(dataDir);
  let pglite: PGlite;
  try {
    if (!given && !inMemory) {
      const origin = await prepareDataDir(dataDir, {
        conf: PGLITE_CONF,
        warn: (message) => options.log?.warn(message),
        ...(options.snapshotArchive ? { archive: options.snapshotArchive } : {}),
      });
      if (origin !== "existing") options.log?.info(createdFrom[origin]);
    }
    pglite = given ?? new PGlite(dataDir, { postgresqlconf: PGLITE_CONF, extensions: PGLITE_EXTENSIONS });
  } catch (error) {
    releaseLock();
    throw error;
  }
  // A data directory opened here gets checkpoints, which PGlite never makes itself (pglite-checkpoints.ts).
  const stopCheckpoints = inMemory || given ? async () => {} : startCheckpoints(pglite);
  return {
    adapter: new PrismaPGlite(pglite),
    target: { kind: "pglite", pglite },
    close: async () => {
      await stopCheckpoints();
      if (!pglite.closed) await pglite.close();
      releaseLock();
    },
  };
}

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

/**
 * PGlite is single-process: two processes on one data directory would corrupt it. The first
 * process takes a lock file holding its pid; a lock whose process is gone is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lockPath = join(dataDir, "invites-gateway.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, String(process.pid), { flag: "wx" });
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(readFileSync(lockPath, "utf8").trim());
      if (holder && holder !== process.pid && isAlive(holder)) {
        throw new DataDirLockedError(
          `The embedded database in ${dataDir} is in use by another process (pid ${holder}, e.g. \`npm start\`). ` +
            "Stop that process first, or run both against PostgreSQL with DATABASE_URL.",
        );
      }
      takeOverStaleLock(lockPath, holder);
    }
  }
  throw new DataDirLockedError(`Could not lock the embedded database in ${dataDir}`);
}

/**
 * Moves a dead process's lock aside with one rename: of two processes that both found it stale,
 * only one rename succeeds. A lock that turns out to be live (written in between) is put back.
 */
function takeOverStaleLock(lockPath: string, staleHolder: number): void {
  const aside = `${lockPath}.${process.pid}`;
  try {
    renameSync(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  const moved = Number(readFileSync(aside, "utf8").trim());
  if (moved !== staleHolder && isAlive(moved)) {
    renameSync(aside, lockPath);
    throw new DataDirLockedError(
      `The embedded database in ${dirname(lockPath)} is in use by another process (pid ${moved}).`,
    );
  }
  rmSync(aside, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function withTimeout(work: PromiseLike<unknown>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // ETIMEDOUT: databaseFailure (src/domain/tx.ts) reads it as a TIMEOUT, as pg's own timeouts.
    timer = setTimeout(() => reject(Object.assign(new Error(message), { code: "ETIMEDOUT" })), ms);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function subscribe<T>(set: Set<T>, item: T): () => void {
  set.add(item);
  return () => set.delete(item);
}
