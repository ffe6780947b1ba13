/**
 * `npm run db:embedded-snapshot`: regenerates the embedded database's ready-made data directory
 * (prisma/embedded/pgdata.tar.gz) with the installed @electric-sql/pglite, initialised and migrated,
 * so a first start on an empty DATA_DIR unpacks it instead of running initdb and every migration
 * (src/db/embedded-data-dir.ts). Run it after changing PGlite's version or adding a migration:
 * test/db/embedded-data-dir.test.ts fails while either differs from what the snapshot was made with.
 */
import { writeFileSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import {
  installedPgliteVersion,
  SNAPSHOT_ARCHIVE,
  SNAPSHOT_META,
  type SnapshotMeta,
} from "../src/db/embedded-data-dir.js";
import { applyMigrations } from "../src/db/migrate.js";
import { PGLITE_EXTENSIONS } from "../src/db/pglite-extensions.js";

const pglite = await PGlite.create({ extensions: PGLITE_EXTENSIONS });
const migrations = await applyMigrations({ kind: "pglite", pglite });
const {
  rows: [server],
} = await pglite.query<{ server_version: string }>("SHOW server_version");
// Written to disk before the dump: the archive then opens without replaying WAL.
await pglite.exec("CHECKPOINT");
const archive = Buffer.from(await (await pglite.dumpDataDir("gzip")).arrayBuffer());
await pglite.close();

const meta: SnapshotMeta = {
  pglite: installedPgliteVersion(),
  postgres: server?.server_version ?? "unknown",
  migrations,
  bytes: archive.length,
  regenerate: "npm run db:embedded-snapshot",
};
writeFileSync(SNAPSHOT_ARCHIVE, archive);
writeFileSync(SNAPSHOT_META, `${JSON.stringify(meta, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(meta)}\n`);
