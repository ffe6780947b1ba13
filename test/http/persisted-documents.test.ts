/**
 * Trusted documents (PERSISTED_DOCUMENTS, PERSISTED_DOCUMENTS_MODE) and APQ, through `yoga.fetch`:
 * the modes, both request shapes, reloading, what still runs in enforce mode (the REST twin, a
 * gateway with GATEWAY_SECRET, GraphiQL with NODE_ENV=development), APQ shared through Redis, and a
 * manifest built by GraphQL Codegen's client preset.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createTrustedDocuments, readManifests, sha256Hex } from "../../src/http/plugins/persisted-documents.js";
import { createGraphQLHandler, type Yoga } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";
import { createTestApp, type TestApp, type TestUser } from "../helpers/app.js";
import { DB_KINDS, openTestDatabase, type TestDatabase } from "../helpers/db.js";
import { type ServerProcess, startServerProcess, stopServerProcess } from "../helpers/process.js";
import { until } from "../helpers/wait.js";

const dir = mkdtempSync(join(tmpdir(), "igw-pq-"));
const VIEWER = "query Viewer { viewer { id email } }";
const TYPENAME = "query Typename { __typename }";
const RELAY_ID = "Viewer_relay_1";
const manifestPath = join(dir, "persisted-documents.json");
writeFileSync(manifestPath, JSON.stringify({ [sha256Hex(VIEWER)]: VIEWER }));
const relayPath = join(dir, "relay.json");
writeFileSync(relayPath, JSON.stringify({ [RELAY_ID]: VIEWER }));
const GATEWAY_SECRET = "gateway-secret-0123456789";

async function post(yoga: Yoga, body: unknown, headers: Record<string, string> = {}) {
  const response = await yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { data?: any; errors?: Array<{ message: string; extensions?: any }> };
  return { status: response.status, data: json.data, errors: json.errors, code: json.errors?.[0]?.extensions?.code };
}

const byId = (id: string) => ({ documentId: id });
const byApollo = (id: string, query?: string) => ({
  ...(query ? { query } : {}),
  extensions: { persistedQuery: { version: 1, sha256Hash: id } },
});

describe("configuration", () => {
  it("PERSISTED_DOCUMENTS turns allow on; enforce needs a manifest; GATEWAY_SECRET is at least 16 characters", () => {
    expect(loadConfig({}).persistedDocuments).toMatchObject({ mode: "off", apqTtlMs: 86_400_000, apqMaxEntries: 1000 });
    expect(loadConfig({ PERSISTED_DOCUMENTS: "a.json, b.json" }).persistedDocuments).toMatchObject({
      paths: ["a.json", "b.json"],
      mode: "allow",
    });
    expect(() => loadConfig({ PERSISTED_DOCUMENTS_MODE: "enforce" })).toThrow(/PERSISTED_DOCUMENTS_MODE/);
    expect(() => loadConfig({ PERSISTED_DOCUMENTS: "a.json", PERSISTED_DOCUMENTS_MODE: "strict" })).toThrow(
      /PERSISTED_DOCUMENTS_MODE/,
    );
    expect(() => loadConfig({ GATEWAY_SECRET: "short" })).toThrow(/GATEWAY_SECRET/);
  });
});

describe("manifests", () => {
  it("accepts codegen and Relay manifests, merges them, and refuses a wrong hash or a conflict", () => {
    const merged = readManifests([manifestPath, relayPath]);
    expect(merged.get(sha256Hex(VIEWER))).toBe(VIEWER);
    expect(merged.get(RELAY_ID)).toBe(VIEWER);
    const wrong = join(dir, "wrong.json");
    writeFileSync(wrong, JSON.stringify({ [sha256Hex("x")]: VIEWER }));
    expect(() => readManifests([wrong])).toThrow(/not the sha256/);
    const conflict = join(dir, "conflict.json");
    writeFileSync(conflict, JSON.stringify({ [RELAY_ID]: TYPENAME }));
    expect(() => readManifests([relayPath, conflict])).toThrow(/different document/);
    const broken = join(dir, "broken.json");
    writeFileSync(broken, "{");
    expect(() => readManifests([broken])).toThrow(/PERSISTED_DOCUMENTS/);
  });
});

describe.each(DB_KINDS)("trusted documents (%s)", (kind) => {
  const apps: Record<string, TestApp> = {};
  let owner: TestUser;
  let orgId: string;
  beforeAll(async () => {
    apps.off = await createTestApp(kind);
    apps.allow = await createTestApp(kind, { PERSISTED_DOCUMENTS: `${manifestPath},${relayPath}` });
    apps.enforce = await createTestApp(kind, {
      PERSISTED_DOCUMENTS: `${manifestPath},${relayPath}`,
      PERSISTED_DOCUMENTS_MODE: "enforce",
      GATEWAY_SECRET,
    });
    apps.dev = await createTestApp(kind, {
      NODE_ENV: "development",
      PERSISTED_DOCUMENTS: manifestPath,
      PERSISTED_DOCUMENTS_MODE: "enforce",
    });
    const enforce = apps.enforce as TestApp;
    owner = await enforce.seed.user("pq");
    orgId = (await enforce.seed.org(owner)).id;
  });
  afterAll(async () => {
    for (const app of Object.values(apps)) await app.close();
  });
  const auth = () => ({ authorization: `Bearer ${owner.token}` });

  it.each([
    ["off", { listed: "refused", free: 200 }],
    ["allow", { listed: 200, free: 200 }],
    ["enforce", { listed: 200, free: "PERSISTED_QUERY_ONLY" }],
  ] as const)("mode %s: listed ids and free text", async (mode, expected) => {
    const app = apps[mode] as TestApp;
    const yoga = app.yoga;
    const user = mode === "enforce" ? owner : await app.seed.user("pq");
    const free = await post(yoga, { query: TYPENAME });
    if (expected.free === 200) expect(free).toMatchObject({ status: 200, data: { __typename: "Query" } });
    else expect(free).toMatchObject({ status: 400, code: expected.free });
    // Both request shapes; the Relay id by documentId.
    for (const body of [byId(sha256Hex(VIEWER)), byApollo(sha256Hex(VIEWER)), byId(RELAY_ID)]) {
      const r = await post(yoga, body, { authorization: `Bearer ${user.token}` });
      if (expected.listed === 200) expect(r).toMatchObject({ status: 200, data: { viewer: { id: user.id } } });
      // Off: no id is known (the Apollo shape is an APQ miss; a documentId: no trusted documents here).
      else
        expect(r).toMatchObject(
          "documentId" in body
            ? { status: 400, code: "PERSISTED_QUERY_NOT_SUPPORTED" }
            : { status: 404, code: "PERSISTED_QUERY_NOT_FOUND" },
        );
    }
  });

  it("an unknown id is PERSISTED_QUERY_NOT_FOUND in allow and enforce", async () => {
    for (const mode of ["allow", "enforce"]) {
      const yoga = (apps[mode] as TestApp).yoga;
      for (const body of [byId(sha256Hex("{ nope }")), byApollo(sha256Hex("{ nope }"))]) {
        expect(await post(yoga, body)).toMatchObject({ status: 404, code: "PERSISTED_QUERY_NOT_FOUND" });
      }
    }
  });

  it("enforce refuses APQ registration (free text with a hash) and GET free text", async () => {
    const yoga = (apps.enforce as TestApp).yoga;
    expect(await post(yoga, byApollo(sha256Hex(TYPENAME), TYPENAME))).toMatchObject({
      status: 400,
      code: "PERSISTED_QUERY_ONLY",
    });
    const get = await yoga.fetch(`http://localhost/graphql?query=${encodeURIComponent(TYPENAME)}`, {
      headers: { "x-graphql-yoga-csrf": "1", accept: "application/json" },
    });
    expect(get.status).toBe(400);
    const byGet = await yoga.fetch(`http://localhost/graphql?documentId=${sha256Hex(VIEWER)}`, {
      headers: { ...auth(), accept: "application/json" },
    });
    expect(((await byGet.json()) as any).data.viewer.id).toBe(owner.id);
  });

  it("enforce: the REST twin's own operations run", async () => {
    const response = await (apps.enforce as TestApp).yoga.fetch(`http://localhost/v1/orgs/${orgId}/invites`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth() },
      body: JSON.stringify({ emails: [`pq-${randomBytes(4).toString("hex")}@example.com`] }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).invited).toBe(1);
  });

  it("enforce: a gateway with GATEWAY_SECRET runs _service and _entities; without it, refused", async () => {
    const yoga = (apps.enforce as TestApp).yoga;
    const sdl = { query: "{ _service { sdl } }" };
    const entities = {
      query: "query($r: [_Any!]!) { _entities(representations: $r) { ... on Organization { id title } } }",
      variables: { r: [{ __typename: "Organization", id: orgId }] },
    };
    expect(await post(yoga, sdl)).toMatchObject({ status: 400, code: "PERSISTED_QUERY_ONLY" });
    expect(await post(yoga, sdl, { "x-gateway-secret": "wrong-secret-0123456789" })).toMatchObject({
      status: 400,
      code: "PERSISTED_QUERY_ONLY",
    });
    const ok = await post(yoga, sdl, { "x-gateway-secret": GATEWAY_SECRET });
    expect(ok.data._service.sdl).toContain("type Organization");
    const ents = await post(yoga, entities, { "x-gateway-secret": GATEWAY_SECRET, ...auth() });
    expect(ents.data._entities).toEqual([{ id: orgId, title: "Acme" }]);
  });

  it("enforce: GraphiQL and its free text only with NODE_ENV=development", async () => {
    const page = async (app: TestApp) => {
      const r = await app.yoga.fetch("http://localhost/graphql", { headers: { accept: "text/html" } });
      return { status: r.status, html: (r.headers.get("content-type") ?? "").includes("text/html") };
    };
    expect(await page(apps.dev as TestApp)).toMatchObject({ status: 200, html: true });
    expect((await page(apps.enforce as TestApp)).html).toBe(false);
    expect(await post((apps.dev as TestApp).yoga, { query: TYPENAME })).toMatchObject({ status: 200 });
  });

  it("APQ: a hash is registered with its text, then runs alone; a text that is not its hash is refused", async () => {
    for (const mode of ["off", "allow"]) {
      const yoga = (apps[mode] as TestApp).yoga;
      const query = `query Apq${mode} { __typename }`;
      const hash = sha256Hex(query);
      expect(await post(yoga, byApollo(hash))).toMatchObject({ status: 404, code: "PERSISTED_QUERY_NOT_FOUND" });
      expect(await post(yoga, byApollo(hash, query))).toMatchObject({ status: 200, data: { __typename: "Query" } });
      expect(await post(yoga, byApollo(hash))).toMatchObject({ status: 200, data: { __typename: "Query" } });
      expect(await post(yoga, byApollo(sha256Hex("other"), query))).toMatchObject({
        status: 400,
        code: "PERSISTED_QUERY_MISMATCH",
      });
    }
  });
});

describe.each(DB_KINDS)("reloading the manifest (%s)", (kind) => {
  let testDb: TestDatabase;
  let yoga: Yoga;
  const path = join(dir, `reload-${kind}.json`);
  const logged: string[] = [];
  const trusted = (() => {
    writeFileSync(path, JSON.stringify({ [sha256Hex(VIEWER)]: VIEWER }));
    const logger = createLogger("info", { write: (line: string) => logged.push(line) } as any);
    return createTrustedDocuments([path], logger);
  })();
  beforeAll(async () => {
    testDb = await openTestDatabase(kind, { PERSISTED_DOCUMENTS: path, PERSISTED_DOCUMENTS_MODE: "enforce" });
    yoga = createGraphQLHandler({
      db: testDb.database.prisma,
      config: testDb.config,
      logger: createLogger("silent"),
      trustedDocuments: trusted,
    });
  });
  afterAll(async () => {
    await yoga.dispose();
    await testDb.close();
  });

  it("a new document runs after reload(); a broken file keeps the old set and logs one error", async () => {
    expect(await post(yoga, byId(sha256Hex(TYPENAME)))).toMatchObject({ code: "PERSISTED_QUERY_NOT_FOUND" });
    writeFileSync(path, JSON.stringify({ [sha256Hex(TYPENAME)]: TYPENAME }));
    expect(trusted.reload()).toBe(true);
    expect(await post(yoga, byId(sha256Hex(TYPENAME)))).toMatchObject({ status: 200, data: { __typename: "Query" } });
    expect(await post(yoga, byId(sha256Hex(VIEWER)))).toMatchObject({ code: "PERSISTED_QUERY_NOT_FOUND" });
    writeFileSync(path, "{ broken");
    const before = logged.length;
    expect(trusted.reload()).toBe(false);
    expect(logged.slice(before).filter((l) => JSON.parse(l).level >= 50)).toHaveLength(1);
    expect(await post(yoga, byId(sha256Hex(TYPENAME)))).toMatchObject({ status: 200 });
  });
});

/** `.ci/run` sets TEST_REDIS_URL (Redis on 127.0.0.1:6379). */
const REDIS_URL = process.env.TEST_REDIS_URL;

describe.skipIf(!REDIS_URL)("APQ shared through Redis", () => {
  let testDb: TestDatabase;
  const handlers: Yoga[] = [];
  beforeAll(async () => {
    testDb = await openTestDatabase("pglite", {
      REDIS_URL: REDIS_URL as string,
      REDIS_KEY_PREFIX: `igw-pq-${randomBytes(4).toString("hex")}`,
      APQ_TTL: "1m",
    });
    for (let i = 0; i < 2; i += 1) {
      handlers.push(
        createGraphQLHandler({ db: testDb.database.prisma, config: testDb.config, logger: createLogger("silent") }),
      );
    }
  });
  afterAll(async () => {
    for (const yoga of handlers) await yoga.dispose();
    await testDb.close();
  });

  it("a hash registered on one replica runs on the other", async () => {
    const [a, b] = handlers as [Yoga, Yoga];
    const query = `query Shared${randomBytes(4).toString("hex")} { __typename }`;
    const hash = sha256Hex(query);
    expect(await post(b, byApollo(hash))).toMatchObject({ status: 404, code: "PERSISTED_QUERY_NOT_FOUND" });
    expect(await post(a, byApollo(hash, query))).toMatchObject({ status: 200 });
    expect(await post(b, byApollo(hash))).toMatchObject({ status: 200, data: { __typename: "Query" } });
  });
});

describe("a manifest built by GraphQL Codegen's client preset", () => {
  let app: TestApp;
  let manifest: Record<string, string>;
  beforeAll(async () => {
    const { generate } = await import("@graphql-codegen/cli");
    const docs = mkdtempSync(join(tmpdir(), "igw-codegen-"));
    writeFileSync(join(docs, "viewer.graphql"), "query Viewer { viewer { id email } }\n");
    writeFileSync(join(docs, "org.graphql"), "query Org($id: ID!) { organization(id: $id) { id title } }\n");
    writeFileSync(join(docs, "typename.graphql"), "query Typename { __typename }\n");
    await generate(
      {
        schema: join(process.cwd(), "schema.graphql"),
        documents: join(docs, "*.graphql"),
        silent: true,
        generates: {
          [join(docs, "gql/")]: { preset: "client", presetConfig: { persistedDocuments: true } },
        },
      },
      true,
    );
    const path = join(docs, "gql", "persisted-documents.json");
    manifest = JSON.parse(readFileSync(path, "utf8"));
    app = await createTestApp("pglite", { PERSISTED_DOCUMENTS: path, PERSISTED_DOCUMENTS_MODE: "enforce" });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
  });

  it("runs each generated document by its hash in enforce mode", async () => {
    expect(Object.keys(manifest)).toHaveLength(3);
    const user = await app.seed.user("codegen");
    const org = await app.seed.org(user);
    const hashOf = (name: string) =>
      Object.entries(manifest).find(([, text]) => text.includes(`query ${name}`))?.[0] as string;
    const headers = { authorization: `Bearer ${user.token}` };
    expect(await post(app.yoga, byId(hashOf("Viewer")), headers)).toMatchObject({
      data: { viewer: { id: user.id } },
    });
    expect(await post(app.yoga, { ...byId(hashOf("Org")), variables: { id: org.id } }, headers)).toMatchObject({
      data: { organization: { id: org.id, title: "Acme" } },
    });
    expect(await post(app.yoga, byApollo(hashOf("Typename")))).toMatchObject({ data: { __typename: "Query" } });
    expect(await post(app.yoga, { query: manifest[hashOf("Typename")] })).toMatchObject({
      code: "PERSISTED_QUERY_ONLY",
    });
  });
});

describe("the real server and SIGHUP", () => {
  const path = join(dir, "sighup.json");
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    writeFileSync(path, JSON.stringify({ [sha256Hex(VIEWER)]: VIEWER }));
    server = await startServerProcess(
      { DATA_DIR: "memory://", PERSISTED_DOCUMENTS: path, PERSISTED_DOCUMENTS_MODE: "enforce" },
      { direct: true },
    );
  }, 120_000);
  afterAll(async () => {
    await stopServerProcess(server);
  });

  const send = async (body: unknown) => {
    const response = await fetch(`${server?.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as { data?: any; errors?: Array<{ extensions?: any }> };
    return { status: response.status, data: json.data, code: json.errors?.[0]?.extensions?.code };
  };

  it("reads the manifest again on SIGHUP, with no restart; a broken one keeps the old set", async () => {
    const s = server as ServerProcess;
    expect(await send({ query: TYPENAME })).toMatchObject({ status: 400, code: "PERSISTED_QUERY_ONLY" });
    expect(await send(byId(sha256Hex(TYPENAME)))).toMatchObject({ code: "PERSISTED_QUERY_NOT_FOUND" });
    writeFileSync(path, JSON.stringify({ [sha256Hex(TYPENAME)]: TYPENAME }));
    s.child.kill("SIGHUP");
    await until("the reload", () => s.output().includes("persisted documents reloaded"));
    expect(await send(byId(sha256Hex(TYPENAME)))).toMatchObject({ status: 200, data: { __typename: "Query" } });
    writeFileSync(path, "not json");
    s.child.kill("SIGHUP");
    await until("the failed reload", () => s.output().includes("persisted documents not reloaded"));
    expect(await send(byId(sha256Hex(TYPENAME)))).toMatchObject({ status: 200, data: { __typename: "Query" } });
    expect(s.child.exitCode).toBeNull();
  });

  it("a manifest with a conflicting id stops the start", async () => {
    const other = join(dir, "sighup-conflict.json");
    writeFileSync(path, JSON.stringify({ [RELAY_ID]: VIEWER }));
    writeFileSync(other, JSON.stringify({ [RELAY_ID]: TYPENAME }));
    await expect(
      startServerProcess({ DATA_DIR: "memory://", PERSISTED_DOCUMENTS: `${path},${other}` }, { direct: true }),
    ).rejects.toThrow(/listed again with a different document/);
  }, 120_000);
});
