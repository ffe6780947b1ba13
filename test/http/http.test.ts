import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { prepareDataDir } from "../../src/db/embedded-data-dir.js";
import { readMigrationsList } from "../../src/db/migrate.js";
import { PGLITE_EXTENSIONS } from "../../src/db/pglite-extensions.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { useTestApp } from "../helpers/app.js";
import { adminQuery, DB_KINDS, type DbKind } from "../helpers/db.js";
import { withDatabase } from "../helpers/pg-admin.js";
import { runMigrateProcess } from "../helpers/process.js";
import { LOCAL_LISTEN, NO_DATABASE_ENV } from "../helpers/server.js";

describe.each(DB_KINDS)("GET /graphql (%s)", (kind) => {
  const app = useTestApp(kind);

  async function get(query: string, token?: string) {
    const response = await app.current.yoga.fetch(`http://localhost/graphql?query=${encodeURIComponent(query)}`, {
      method: "GET",
      headers: { accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });
    const text = await response.text();
    return { status: response.status, text, body: text ? (JSON.parse(text) as { data?: any; errors?: any[] }) : {} };
  }

  it("runs a query sent as a query string, as the token's user", async () => {
    const alice = await app.current.seed.user("alice");

    const res = await get("{viewer{id}}", alice.token);

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { viewer: { id: alice.id } } });
  });

  it("rejects a bad token over GET too", async () => {
    const res = await get("{viewer{id}}", "igw_not-a-token");
    expect(res.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(res.body.data ?? null).toBeNull();
  });

  it("refuses a mutation over GET with 405 and writes nothing", async () => {
    const alice = await app.current.seed.user("alice");
    const before = await app.current.db.organization.count();

    const res = await get('mutation { createOrganization(input: { title: "Over GET" }) { __typename } }', alice.token);

    expect(res.status).toBe(405);
    expect(res.body.data ?? null).toBeNull();
    expect(res.body.errors?.length).toBeGreaterThan(0);
    expect(await app.current.db.organization.count()).toBe(before);
  });
});

describe.each(DB_KINDS)("variables of the wrong type (%s)", (kind) => {
  const app = useTestApp(kind);

  // Found by test/e2e/fuzz.test.ts: graphql-js gives these request errors no extensions.code.
  it.each([
    ["a string for an Int", { o: "org", input: { role: "READ", maxUses: "5" } }],
    ["an Int out of 32-bit range", { o: "org", input: { role: "READ", maxUses: 2 ** 31 } }],
    ["an object for an ID", { o: { id: "org" }, input: { role: "READ" } }],
    ["an array for an input object", { o: "org", input: [1] }],
    ["an unknown enum value", { o: "org", input: { role: "OWNER" } }],
    ["a missing required variable", { o: "org" }],
    ["null for a non-null variable", { o: null, input: { role: "READ" } }],
  ])("answers %s with 400 and a BAD_USER_INPUT error", async (_label, variables) => {
    const alice = await app.current.seed.user("alice");
    const res = await app.current.gql(
      "mutation ($o: ID!, $input: CreateLinkInviteInput!) { createLinkInvite(organizationId: $o, input: $input) { __typename } }",
      { variables, token: alice.token },
    );

    expect(res.status).toBe(400);
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(["BAD_USER_INPUT"]);
  });
});

describe("/ready without a database", () => {
  let running: RunningServer | undefined;
  afterAll(async () => {
    await running?.close();
  });

  it("answers 503 while /health stays 200", async () => {
    running = await startServer(loadConfig({ ...NO_DATABASE_ENV, DB_CONNECT_TIMEOUT: "1s" }));

    const ready = await fetch(`${running.url}/ready`);
    expect(ready.status).toBe(503);
    expect((await ready.json()) as object).not.toMatchObject({ status: "ready" });
    expect((await fetch(`${running.url}/health`)).status).toBe(200);
  });
});

describe("GET /debug/sql-count (benchmarks only)", () => {
  let running: RunningServer | undefined;
  afterAll(async () => {
    await running?.close();
  });

  it("exists only with BENCH_COUNT_SQL=1", async () => {
    const env = NO_DATABASE_ENV;
    running = await startServer(loadConfig(env));
    expect((await fetch(`${running.url}/debug/sql-count`)).status).toBe(404);
    await running.close();

    running = await startServer(loadConfig({ ...env, BENCH_COUNT_SQL: "1" }));
    const response = await fetch(`${running.url}/debug/sql-count`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ count: 0 });
  });
});

/** A fresh, empty database of `kind` (not migrated) and the environment that selects it. */
function emptyDatabase(kind: DbKind): { env: Record<string, string>; drop(): Promise<void>; create(): Promise<void> } {
  if (kind === "pglite") {
    const dataDir = mkdtempSync(join(tmpdir(), "igw-nomigrate-"));
    return {
      env: { DATA_DIR: dataDir },
      // A new DATA_DIR comes migrated (the shipped snapshot, src/db/embedded-data-dir.ts): emptied here.
      create: async () => {
        await prepareDataDir(dataDir, { conf: "", warn: () => {} });
        const pglite = new PGlite(dataDir, { extensions: PGLITE_EXTENSIONS });
        await pglite.exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        await pglite.close();
      },
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const serverUrl = process.env.TEST_DATABASE_URL as string;
  const name = `igw_nomig_${randomBytes(6).toString("hex")}`;
  return {
    env: { DATABASE_URL: withDatabase(serverUrl, name) },
    create: () => adminQuery(serverUrl, `CREATE DATABASE ${name}`),
    drop: () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

describe.each(DB_KINDS)("AUTO_MIGRATE=false and npm run db:migrate (%s)", (kind) => {
  const db = emptyDatabase(kind);
  afterAll(() => db.drop());

  it("starts without migrating; db:migrate then applies every migration once", async () => {
    await db.create();
    const running = await startServer(
      loadConfig({ ...db.env, AUTO_MIGRATE: "false", ...LOCAL_LISTEN, LOG_LEVEL: "silent" }),
    );
    let table: unknown;
    try {
      const rows = await running.database.prisma.$queryRawUnsafe<Array<{ t: unknown }>>(
        "SELECT to_regclass('_prisma_migrations')::text AS t",
      );
      table = rows[0]?.t;
      // Reachable (nothing else is wrong with the database), just not migrated.
      expect((await fetch(`${running.url}/ready`)).status).toBe(200);
    } finally {
      await running.close();
    }
    expect(table).toBeNull();

    const names = (await readMigrationsList()).migrationDirectories.map((d) => d.path);
    expect(names.length).toBeGreaterThan(0);
    expect(names[0]).toMatch(/_init$/);

    const first = await runMigrateProcess(db.env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ applied: names });
    expect(first.stdout.trim().split("\n")).toHaveLength(1);

    const second = await runMigrateProcess(db.env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ applied: [] });
  });
});

describe.each(DB_KINDS)("text the database cannot hold, in query arguments (%s)", (kind) => {
  const app = useTestApp(kind);

  it("answers NUL or malformed Unicode in ids with BAD_USER_INPUT (or not found), never a masked crash", async () => {
    const owner = await app.current.seed.user();
    const org = await app.current.seed.org(owner);
    for (const bad of ["a\u0000b", "é\udfff", "\ud800"]) {
      const responses = [
        await app.current.gql(
          "query($o: ID!, $i: ID!) { linkInvitePreview(organizationId: $o, inviteId: $i) { status } }",
          {
            variables: { o: org.id, i: bad },
          },
        ),
        await app.current.gql("query($o: ID!, $i: ID!) { organization(id: $o) { linkInvite(id: $i) { id } } }", {
          variables: { o: org.id, i: bad },
          token: owner.token,
        }),
        await app.current.gql("query($r: [_Any!]!) { _entities(representations: $r) { ... on Organization { id } } }", {
          variables: {
            r: ["Organization", "LinkInvite", "User", "Invite"].map((__typename) => ({ __typename, id: bad })),
          },
          token: owner.token,
        }),
      ];
      for (const res of responses) {
        expect(res.status, JSON.stringify(bad)).toBe(200);
        for (const error of res.errors ?? []) {
          expect(error.extensions?.code, `${JSON.stringify(bad)}: ${error.message}`).toBe("BAD_USER_INPUT");
        }
      }
      if (bad.includes("\u0000")) {
        expect(responses.every((res) => res.errors?.[0]?.message.match(/NUL or malformed Unicode/))).toBe(true);
      }
    }
  });
});
