/**
 * The first start on an empty DATA_DIR. PostgreSQL's initdb, run inside PGlite, takes about 10 s and
 * grows a process to about 800 MB: instead, the data directory comes from a snapshot in the
 * repository (prisma/embedded/pgdata.tar.gz), made by PGlite itself (`PGlite.create()`, the
 * migrations, then `dumpDataDir("gzip")`; `npm run db:embedded-snapshot`) with the pinned
 * @electric-sql/pglite, whose version and migrations are recorded beside it (pgdata.json). The start
 * then migrates as any start does: nothing to apply, unless a migration is newer than the snapshot.
 * Migrated in the snapshot, a first start costs about what a restart does: the schema engine is not
 * loaded (1.2 s less CPU, and its memory; bench/results/first-contact-2026-12-03.md).
 *
 * The archive is unpacked by Node (the `tar` package, in a child process) rather than by PGlite's `loadDataDir`: the
 * result on disk is the same, but loadDataDir unpacks through PGlite's WebAssembly memory, which
 * never shrinks: the server then idled at about 310 MB instead of 195 MB, and the unpack took about
 * 1 s longer.
 *
 * If the snapshot cannot be used (missing, made with another PGlite version, unreadable), initdb runs
 * in a child process, which gives all of its memory back when it exits, and one log line says so.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { PROJECT_ROOT } from "./project-root.js";

export const SNAPSHOT_ARCHIVE = join(PROJECT_ROOT, "prisma", "embedded", "pgdata.tar.gz");
export const SNAPSHOT_META = join(PROJECT_ROOT, "prisma", "embedded", "pgdata.json");

/** pgdata.json: what the archive was made with. */
export interface SnapshotMeta {
  pglite: string;
  postgres: string;
  /** The migrations applied in it (a later one is applied at start, as on any start). */
  migrations: string[];
  bytes: number;
  regenerate: string;
}

/** How a data directory came to be: it was there, from the snapshot, or by initdb (the fallback). */
export type DataDirOrigin = "existing" | "snapshot" | "initdb";

export interface PrepareOptions {
  /** postgresql.conf for the fallback's initdb (the server writes it again on every open). */
  conf: string;
  /** The one line said when the snapshot cannot be used. */
  warn: (message: string) => void;
  /** Another archive (tests of the fallback). */
  archive?: string;
}

/** The installed @electric-sql/pglite's version (its package.json is not exported). */
export function installedPgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  const pkg = JSON.parse(readFileSync(join(dirname(entry), "..", "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * Makes `dataDir` (which exists, and holds at most the lock file) a PostgreSQL data directory unless it
 * already is one. PG_VERSION marks a data directory: it is written last, so an unpack interrupted by a
 * crash is simply done again on the next start.
 */
export async function prepareDataDir(dataDir: string, options: PrepareOptions): Promise<DataDirOrigin> {
  if (existsSync(join(dataDir, "PG_VERSION"))) return "existing";
  try {
    await unpackSnapshot(dataDir, options.archive ?? SNAPSHOT_ARCHIVE);
    return "snapshot";
  } catch (error) {
    options.warn(
      `The embedded database's snapshot could not be used (${error instanceof Error ? error.message : String(error)}): ` +
        `creating ${dataDir} with initdb instead, once (about 10 s).`,
    );
    await initdbInChildProcess(dataDir, options.conf);
    return "initdb";
  }
}

/**
 * Unpacks the archive into dataDir (exported for tests); throws when it cannot be used. In a child
 * process, as initdb: the 40 MB it inflates and writes left the server about 45 MB larger for good
 * (glibc keeps what it freed), and the server never loads the tar package.
 */
export async function unpackSnapshot(dataDir: string, archive: string): Promise<void> {
  const metaPath = join(dirname(archive), "pgdata.json");
  const meta = JSON.parse(readFileSync(metaPath, "utf8")) as SnapshotMeta;
  const installed = installedPgliteVersion();
  if (meta.pglite !== installed) {
    throw new Error(`it was made with PGlite ${meta.pglite}, ${installed} is installed`);
  }
  // Entries are stored as "/base/1/…": tar strips the leading "/" (it never writes outside cwd) and
  // says so as information. Anything else it warns about (a damaged entry, a bad header) fails the
  // unpack. Synchronous: about 0.2 s of CPU instead of 0.8 s for its thousand small files (the
  // asynchronous unpack waits on each file operation in turn). postmaster.pid belonged to the PGlite
  // that made the dump.
  await runNode(
    `
    const { x } = require(${JSON.stringify(createRequire(import.meta.url).resolve("tar"))});
    const [file, cwd] = process.argv.slice(1);
    const name = (path) => path.replace(/^\\/+/, "");
    const problems = [];
    const onwarn = (code, message) => { if (code !== "TAR_ENTRY_INFO") problems.push(code + ": " + message); };
    const options = { file, cwd, onwarn, sync: true, noChmod: true, noMtime: true, preserveOwner: false };
    x({ ...options, filter: (path) => !["PG_VERSION", "postmaster.pid"].includes(name(path)) });
    if (problems.length === 0) x({ ...options, filter: (path) => name(path) === "PG_VERSION" });
    if (problems.length > 0) { console.error(problems.join("; ")); process.exit(1); }`,
    [archive, dataDir],
  );
  if (!existsSync(join(dataDir, "PG_VERSION"))) throw new Error(`${archive} holds no PG_VERSION`);
}

/** initdb by PGlite in a child process: its ~800 MB go away with it. */
async function initdbInChildProcess(dataDir: string, conf: string): Promise<void> {
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  try {
    await runNode(
      `
      const { PGlite } = require(${JSON.stringify(entry)});
      (async () => {
        const db = new PGlite(process.argv[1], { postgresqlconf: process.argv[2] });
        await db.waitReady;
        await db.close();
      })().catch((error) => { console.error(error && error.message ? error.message : String(error)); process.exit(1); });`,
      [dataDir, conf],
    );
  } catch (error) {
    throw new Error(`could not create the embedded database in ${dataDir}: ${(error as Error).message}`);
  }
  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    throw new Error(`could not create the embedded database in ${dataDir}: no PG_VERSION`);
  }
}

/** Runs a CommonJS script in a Node process of its own; rejects with its stderr when it fails. */
async function runNode(source: string, args: string[]): Promise<void> {
  const child = spawn(process.execPath, ["-e", source, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", resolve);
  });
  if (code !== 0) throw new Error(stderr.trim() || `exit ${code}`);
}
