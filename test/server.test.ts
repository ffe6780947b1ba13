import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueEmail } from "./helpers/app.js";
import { adminQuery } from "./helpers/db.js";
import { withDatabase } from "./helpers/pg-admin.js";
import {
  createUserWithCli,
  runCliProcess,
  type ServerProcess,
  startServerProcess,
  stopServerProcess,
} from "./helpers/process.js";

/** POST /graphql over a real socket. */
async function post(url: string, query: string, token?: string) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: any[] } };
}

describe("the real server on the embedded default (PGlite)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "igw-server-"));
  let server: ServerProcess;
  let token: string;
  let email: string;

  beforeAll(async () => {
    // PGlite is single-process: the operator creates the user before starting the server.
    email = uniqueEmail("alice");
    ({ token } = await createUserWithCli(["--email", email], { DATA_DIR: dataDir }));
    server = await startServerProcess({ DATA_DIR: dataDir });
  });
  afterAll(async () => {
    await stopServerProcess(server);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("serves an authenticated request, /health and /ready", async () => {
    const me = await post(server.url, "{ viewer { email } }", token);
    expect(me).toEqual({ status: 200, body: { data: { viewer: { email } } } });
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", database: "pglite" });
  });

  it("runs CLI commands through the server while it owns the embedded database", async () => {
    const bobEmail = uniqueEmail("bob");
    const bob = await createUserWithCli(["--email", bobEmail], { DATA_DIR: dataDir });
    const me = await post(server.url, "{ viewer { id email } }", bob.token);
    expect(me.body).toEqual({ data: { viewer: { id: bob.id, email: bobEmail } } });

    const bad = await runCliProcess(["token", "create", "--email", uniqueEmail("nobody")], { DATA_DIR: dataDir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/No user with email/);
    expect(bad.stdout).toBe("");
  });

  it("finishes an in-flight request on SIGTERM, refuses new ones, and exits 0", async () => {
    const body = JSON.stringify({ query: "{ viewer { email } }" });
    const socket = connect(Number(new URL(server.url).port), "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    let response = "";
    socket.on("data", (d) => {
      response += d;
    });
    const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    // Send the headers and half the body: the request is now in flight.
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    socket.write(body.slice(0, 10));
    await new Promise((r) => setTimeout(r, 200));
    server.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    // A new connection is refused while the old request is still open.
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    socket.write(body.slice(10));
    await ended;
    expect(response).toMatch(/^HTTP\/1\.1 200/);
    expect(response).toContain(`"email":"${email}"`);
    expect(await server.exited).toBe(0);
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)("the real server on PostgreSQL with the CLI beside it", () => {
  const name = `igw_srv_${Date.now().toString(36)}`;
  let url: string;
  let server: ServerProcess;

  beforeAll(async () => {
    const serverUrl = process.env.TEST_DATABASE_URL as string;
    await adminQuery(serverUrl, `CREATE DATABASE ${name}`);
    url = withDatabase(serverUrl, name);
    server = await startServerProcess({ DATABASE_URL: url });
  });
  afterAll(async () => {
    await stopServerProcess(server);
    await adminQuery(process.env.TEST_DATABASE_URL as string, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  it("migrates on start, then the CLI's user and org work over the socket", async () => {
    const email = uniqueEmail("op");
    const { token, id } = await createUserWithCli(["--email", email, "--name", "Op"], { DATABASE_URL: url });
    const org = await runCliProcess(["org", "create", "--title", "Ops", "--owner-email", email], { DATABASE_URL: url });
    expect(org.code, org.stderr).toBe(0);
    const orgJson = JSON.parse(org.stdout);
    expect(orgJson).toMatchObject({ title: "Ops", ownerId: id });
    const res = await post(server.url, `{ organization(id: "${orgJson.id}") { title viewerRole } }`, token);
    expect(res.body).toEqual({ data: { organization: { title: "Ops", viewerRole: "ADMIN" } } });
    const ready = await fetch(`${server.url}/ready`);
    expect(await ready.json()).toMatchObject({ database: "postgres" });

    const revoked = await runCliProcess(["token", "revoke", "--token", token], { DATABASE_URL: url });
    expect(JSON.parse(revoked.stdout)).toEqual({ revoked: true });
    const denied = await post(server.url, "{ viewer { id } }", token);
    expect(denied.status).toBe(401);
    expect(denied.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });
});

describe("the real server's signals and start failures", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "igw-signals-"));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("a second SIGTERM during shutdown does not cut it short: exit 0", async () => {
    const server = await startServerProcess({ DATA_DIR: dataDir }, { direct: true });
    server.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (server.child.exitCode === null) server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    expect(server.child.signalCode).toBeNull();
    expect(server.output()).toContain('"msg":"stopped"');
  });

  it("a port in use says to set PORT", async () => {
    const blocker = await startServerProcess({ DATA_DIR: join(dataDir, "other") }, { direct: true });
    try {
      const port = new URL(blocker.url).port;
      const second = await startServerProcess({ DATA_DIR: join(dataDir, "third"), PORT: port }, { direct: true }).then(
        () => null,
        (error: Error) => error.message,
      );
      expect(second).toMatch(/EADDRINUSE.*\(set PORT to a free port\)/);
    } finally {
      blocker.child.kill("SIGTERM");
      await blocker.exited;
    }
  });
});
