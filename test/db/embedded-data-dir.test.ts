/**
 * The first start on an empty DATA_DIR: the shipped snapshot of an initialised data directory
 * (src/db/embedded-data-dir.ts), and initdb in a child process when the snapshot cannot be used.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createDatabase } from "../../src/db/client.js";
import {
  installedPgliteVersion,
  prepareDataDir,
  SNAPSHOT_ARCHIVE,
  SNAPSHOT_META,
  type SnapshotMeta,
  unpackSnapshot,
} from "../../src/db/embedded-data-dir.js";
import { readMigrationsList } from "../../src/db/migrate.js";
import { ROOT, runCliProcess, startServerProcess, stopServerProcess } from "../helpers/process.js";

const scratch = mkdtempSync(join(tmpdir(), "igw-embedded-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(scratch, `d${n++}`);

/** A copy of the snapshot's folder, changed by `change` (a damaged archive, another version). */
function snapshotCopy(change: (archive: string, meta: string) => void): string {
  const dir = freshDir();
  mkdirSync(dir);
  const archive = join(dir, "pgdata.tar.gz");
  const meta = join(dir, "pgdata.json");
  copyFileSync(SNAPSHOT_ARCHIVE, archive);
  copyFileSync(SNAPSHOT_META, meta);
  change(archive, meta);
  return archive;
}

describe("the embedded database's snapshot", () => {
  it("was made with the pinned PGlite and holds every migration (else: npm run db:embedded-snapshot)", async () => {
    const meta = JSON.parse(readFileSync(SNAPSHOT_META, "utf8")) as SnapshotMeta;
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(pkg.dependencies["@electric-sql/pglite"], "pin PGlite to an exact version").toMatch(/^\d+\.\d+\.\d+$/);
    expect(meta.pglite).toBe(pkg.dependencies["@electric-sql/pglite"]);
    expect(meta.pglite).toBe(installedPgliteVersion());
    expect(meta.bytes).toBe(readFileSync(SNAPSHOT_ARCHIVE).length);
    const local = (await readMigrationsList()).migrationDirectories.map((d) => d.path);
    expect(meta.migrations, "a migration is newer than the snapshot: npm run db:embedded-snapshot").toEqual(local);
  });

  it("is what a first start serves from: no initdb, nothing to migrate, ready, and the CLI works on it", async () => {
    const dataDir = freshDir();
    const server = await startServerProcess({ DATA_DIR: dataDir });
    try {
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(200);
      expect(server.output()).toContain("created the embedded database from its snapshot");
      expect(server.output()).not.toMatch(/initdb/);
      expect(server.output()).toContain("database schema is up to date");
    } finally {
      expect(await stopServerProcess(server)).toBe(0);
    }
    // The CLI on another new directory, with the server gone: the same path, stdout one JSON object.
    const cli = await runCliProcess(["user", "create", "--email", "first@example.com"], { DATA_DIR: freshDir() });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).toBe("");
    expect(JSON.parse(cli.stdout)).toMatchObject({ email: "first@example.com" });
  });

  it("falls back to initdb in a child process, with one log line, when the snapshot is of another PGlite", async () => {
    const archive = snapshotCopy((_, meta) => {
      const parsed = JSON.parse(readFileSync(meta, "utf8")) as SnapshotMeta;
      writeFileSync(meta, JSON.stringify({ ...parsed, pglite: "0.0.1" }));
    });
    const lines: Array<[string, string]> = [];
    const config = loadConfig({ DATA_DIR: freshDir(), LOG_LEVEL: "silent" });
    const database = await createDatabase(config, {
      snapshotArchive: archive,
      log: { info: (m) => lines.push(["info", m]), warn: (m) => lines.push(["warn", m]) },
    });
    try {
      const warnings = lines.filter(([level]) => level === "warn");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.[1]).toMatch(/made with PGlite 0\.0\.1, .* is installed.*initdb/);
      expect(lines).toContainEqual(["info", "created the embedded database with initdb"]);
      expect(await database.migrate()).not.toHaveLength(0);
      const [row] = await database.prisma.$queryRawUnsafe<{ shared_buffers: string; max_connections: string }[]>(
        "SELECT current_setting('shared_buffers') AS shared_buffers, current_setting('max_connections') AS max_connections",
      );
      expect(row).toEqual({ shared_buffers: "16MB", max_connections: "8" });
      expect(await database.prisma.organization.count()).toBe(0);
    } finally {
      await database.close();
    }
  });

  it("refuses a damaged archive without marking the directory a database; the next start unpacks it again", async () => {
    const archive = snapshotCopy((path) => {
      const bytes = readFileSync(path);
      writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    });
    const dataDir = freshDir();
    mkdirSync(dataDir);
    await expect(unpackSnapshot(dataDir, archive)).rejects.toThrow();
    expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(false);

    const warnings: string[] = [];
    expect(await prepareDataDir(dataDir, { conf: "", warn: (m) => warnings.push(m) })).toBe("snapshot");
    expect(warnings).toEqual([]);
    expect(await prepareDataDir(dataDir, { conf: "", warn: (m) => warnings.push(m) })).toBe("existing");
    const pglite = new PGlite(dataDir);
    try {
      const { rows } = await pglite.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_class");
      expect(rows[0]?.n).toBeGreaterThan(100);
    } finally {
      await pglite.close();
    }
  });
});
