import { randomBytes } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, type MigrationTarget, migrationStatus, readMigrationsList } from "../../src/db/migrate.js";
import { PGLITE_EXTENSIONS } from "../../src/db/pglite-extensions.js";
import { adminQuery } from "../helpers/db.js";

type Query = (sql: string) => Promise<Record<string, unknown>[]>;

const tables = [
  "ApiToken",
  "AuditEvent",
  "Invite",
  "InviteQuota",
  "LinkInvite",
  "Member",
  "MemberGrant",
  "OrgCreationQuota",
  "Organization",
  "OutboxEvent",
  "User",
  "_prisma_migrations",
];

const checkConstraints = [
  "InviteQuota_count_check",
  "Invite_email_lower_check",
  "LinkInvite_uses_check",
  "OrgCreationQuota_count_check",
  "User_email_lower_check",
];

async function allMigrationNames(): Promise<string[]> {
  const { migrationDirectories } = await readMigrationsList();
  return migrationDirectories.map((dir) => dir.path);
}

async function column(query: Query, sql: string): Promise<string[]> {
  return (await query(sql)).map((row) => String(Object.values(row)[0])).sort();
}

async function expectMigratedSchema(query: Query): Promise<void> {
  expect(await column(query, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).toEqual(tables);
  const [pendingIndex] = await query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'Invite_pending_email_key'`);
  expect(pendingIndex?.indexdef).toMatch(/^CREATE UNIQUE INDEX .* WHERE \(status = 'PENDING'/);
  expect(await column(query, "SELECT conname FROM pg_constraint WHERE contype = 'c'")).toEqual(
    expect.arrayContaining(checkConstraints),
  );
}

/** The shared cases, for one database: first run applies everything, the second nothing. */
function describeMigrations(target: () => MigrationTarget, query: () => Query): void {
  it("applies every migration to an empty database", async () => {
    const applied = await applyMigrations(target());
    expect(applied).toEqual(await allMigrationNames());
    expect(applied.length).toBeGreaterThan(0);
    await expectMigratedSchema(query());
  });

  it("applies nothing the second time and reports no pending history", async () => {
    expect(await applyMigrations(target())).toEqual([]);
    const status = await migrationStatus(target());
    expect(status).toMatchObject({ history: null, failedMigrationNames: [] });
  });

  it("up to date, it only reads the history: the schema engine is not started", async () => {
    const log: string[] = [];
    expect(await applyMigrations(target(), (m) => log.push(m))).toEqual([]);
    expect(log).toEqual([]);
  });

  it("a changed migration or a failed one still goes to the engine, which refuses a failed one", async () => {
    const [last] = (await allMigrationNames()).slice(-1);
    const [row] = await query()(`SELECT checksum FROM _prisma_migrations WHERE migration_name = '${last}'`);
    const log: string[] = [];
    try {
      await query()(`UPDATE _prisma_migrations SET checksum = 'changed' WHERE migration_name = '${last}'`);
      expect(await applyMigrations(target(), (m) => log.push(m))).toEqual([]);
      expect(log).not.toEqual([]);
      await query()(
        `UPDATE _prisma_migrations SET checksum = '${row?.checksum}', finished_at = NULL WHERE migration_name = '${last}'`,
      );
      await expect(applyMigrations(target())).rejects.toThrow(/failed migrations|P3009/);
    } finally {
      await query()(
        `UPDATE _prisma_migrations SET checksum = '${row?.checksum}', finished_at = now() WHERE migration_name = '${last}'`,
      );
    }
    expect(await applyMigrations(target())).toEqual([]);
  });
}

describe("applyMigrations on PGlite", () => {
  let pglite: PGlite;
  beforeAll(() => {
    pglite = new PGlite({ extensions: PGLITE_EXTENSIONS });
  });
  afterAll(() => pglite.close());

  describeMigrations(
    () => ({ kind: "pglite", pglite }),
    () => async (sql) => (await pglite.query<Record<string, unknown>>(sql)).rows,
  );

  it("works again in the same process on another PGlite instance", async () => {
    const other = new PGlite({ extensions: PGLITE_EXTENSIONS });
    try {
      expect(await applyMigrations({ kind: "pglite", pglite: other })).toEqual(await allMigrationNames());
      await expectMigratedSchema(async (sql) => (await other.query<Record<string, unknown>>(sql)).rows);
    } finally {
      await other.close();
    }
  });
});

const serverUrl = process.env.TEST_DATABASE_URL;

describe.skipIf(!serverUrl)("applyMigrations on PostgreSQL (TEST_DATABASE_URL)", () => {
  const database = `migrate_test_${randomBytes(6).toString("hex")}`;
  let connectionString: string;
  let client: pg.Client;

  beforeAll(async () => {
    await onServer(`CREATE DATABASE "${database}"`);
    const url = new URL(serverUrl as string);
    url.pathname = `/${database}`;
    connectionString = url.toString();
    client = new pg.Client({ connectionString });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    // Without FORCE: fails if applyMigrations left a connection open.
    await onServer(`DROP DATABASE IF EXISTS "${database}"`);
  });

  describeMigrations(
    () => ({ kind: "postgres", connectionString }),
    () => async (sql) => (await client.query(sql)).rows,
  );
});

function onServer(sql: string): Promise<void> {
  return adminQuery(serverUrl as string, sql);
}
