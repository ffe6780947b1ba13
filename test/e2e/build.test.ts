/**
 * `npm start` runs the bundle `npm run build` makes (scripts/build.mjs), not the sources the other
 * tests run through tsx: built beside dist/, it starts on a new data directory and serves what loads
 * files or packages at run time (the snapshot, migrations, PGlite, Prisma, GraphiQL, the REST twin's
 * OpenAPI document, the CLI over the operator socket), with one graphql module (a denial is a
 * FORBIDDEN/UNAUTHENTICATED error, not "Unexpected error.").
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminQuery } from "../helpers/db.js";
import { ROOT } from "../helpers/process.js";

const run = promisify(execFile);
const outdir = `.test-dist-${process.pid}`;
const dataDir = mkdtempSync(join(tmpdir(), "igw-build-"));
const env = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ["DATABASE_URL", "NODE_ENV", "VITEST", "VITEST_POOL_ID", "VITEST_WORKER_ID"]) delete base[key];
  return { ...base, LOG_LEVEL: "info", DATA_DIR: dataDir, ...extra };
};

describe("the bundle npm start runs", () => {
  let server: ChildProcess;
  let url: string;
  let output = "";

  beforeAll(async () => {
    await run(process.execPath, ["scripts/build.mjs", outdir], { cwd: ROOT });
    ({ server, url } = await startBuilt({}, (chunk) => {
      output += chunk;
    }));
  }, 120_000);

  afterAll(async () => {
    await stopBuilt(server);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const graphql = async (query: string, token?: string) => {
    const response = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query }),
    });
    return (await response.json()) as {
      data?: Record<string, unknown>;
      errors?: Array<{ extensions?: { code?: string } }>;
    };
  };

  it("starts from the snapshot, finds its schema up to date and is ready", async () => {
    expect((await fetch(`${url}/ready`)).status).toBe(200);
    expect(output).toContain("created the embedded database from its snapshot");
    expect(output).toContain("database schema is up to date");
  });

  it("serves GraphQL with its rules, GraphiQL and the REST twin's OpenAPI document", async () => {
    const denied = await graphql(`{ organization(id: "x") { id } }`);
    expect(denied.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
    // A syntax error goes through graphql-armor's parser (a deep import of graphql): one graphql
    // module in the bundle, or its GraphQLError is not recognised and this is a 500.
    const response = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: JSON.stringify({ query: "{ viewer { id " }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: Array<{ extensions?: { code?: string } }> };
    expect(body.errors.map((e) => e.extensions?.code)).toEqual(["GRAPHQL_PARSE_FAILED"]);
    const page = await fetch(`${url}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<html");
    const openapi = await fetch(`${url}/v1/openapi.json`);
    expect(openapi.status).toBe(200);
    expect(((await openapi.json()) as { openapi: string }).openapi).toMatch(/^3\./);
  });

  it.skipIf(!process.env.TEST_DATABASE_URL)(
    "serves PostgreSQL too (pg is the one @prisma/adapter-pg uses)",
    async () => {
      const serverUrl = process.env.TEST_DATABASE_URL as string;
      const name = `igw_build_${process.pid}`;
      await adminQuery(serverUrl, `CREATE DATABASE ${name}`);
      const database = new URL(serverUrl);
      database.pathname = `/${name}`;
      const pgServer = await startBuilt({ DATABASE_URL: database.toString() }, () => {});
      try {
        expect(await (await fetch(`${pgServer.url}/ready`)).json()).toEqual({ status: "ready", database: "postgres" });
        const response = await fetch(`${pgServer.url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "{ viewer { id } }" }),
        });
        expect(await response.json()).toEqual({ data: { viewer: null } });
      } finally {
        await stopBuilt(pgServer.server);
        await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    },
  );

  it("runs the CLI (over the running server's socket) and a signed-in mutation", async () => {
    const { stdout } = await run(
      process.execPath,
      [join(outdir, "cli.js"), "user", "create", "--email", "b@example.com"],
      {
        cwd: ROOT,
        env: env({}),
      },
    );
    const { token } = JSON.parse(stdout) as { token: string };
    const created = await graphql(
      `mutation { createOrganization(input: { title: "Built" }) { ... on CreateOrganizationSuccess { organization { title viewerRole } } } }`,
      token,
    );
    expect(created).toEqual({
      data: { createOrganization: { organization: { title: "Built", viewerRole: "ADMIN" } } },
    });
  });
});

afterAll(() => rmSync(join(ROOT, outdir), { recursive: true, force: true }));

/** Starts the built server on a free port; resolves with its URL once it listens. */
function startBuilt(extra: Record<string, string>, onOutput: (chunk: string) => void) {
  const server = spawn(process.execPath, [join(outdir, "server.js")], {
    cwd: ROOT,
    env: env({ HOST: "127.0.0.1", PORT: "0", ...extra }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise<{ server: ChildProcess; url: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      onOutput(String(chunk));
      const match = /"url":"(http:\/\/[^"]+)\/graphql"/.exec(output);
      if (match?.[1]) resolve({ server, url: match[1] });
    };
    server.stdout?.on("data", onData);
    server.stderr?.on("data", onData);
    server.once("exit", (code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
}

async function stopBuilt(server: ChildProcess | undefined): Promise<void> {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  await exited;
}
