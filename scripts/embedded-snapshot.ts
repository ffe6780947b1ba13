/**
 * `npm run db:embedded-snapshot`: regenerates the embedded database's pre-initialised data directory
 * (prisma/embedded/pgdata.tar.gz) with the installed @electric-sql/pglite, so a first start on an
 * empty DATA_DIR unpacks it instead of running initdb (src/embedded-data-dir.ts). Run it after
 * changing PGlite's version: test/embedded-data-dir.test.ts fails while the two differ.
 */
import { writeFileSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import {
  installedPgliteVersion,
  SNAPSHOT_ARCHIVE,
  SNAPSHOT_META,
  type SnapshotMeta,
} from "../src/embedded-data-dir.js";

const pglite = await PGlite.create();
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
  bytes: archive.length,
  regenerate: "npm run db:embedded-snapshot",
};
writeFileSync(SNAPSHOT_ARCHIVE, archive);
writeFileSync(SNAPSHOT_META, `${JSON.stringify(meta, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(meta)}\n`);
