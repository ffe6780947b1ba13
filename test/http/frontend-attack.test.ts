/**
 * The frontend features (trusted documents, APQ, graphql-ws) attacked as an attacker would: each test
 * here reproduces a hole that was found, through `yoga.fetch` or a real socket.
 */
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { loadConfig } from "../../src/config.js";
import { APQ_MAX_DOCUMENT_CHARS, sha256Hex } from "../../src/http/plugins/persisted-documents.js";
import { createGraphQLHandler, type Yoga } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { openTestDatabase, type TestDatabase } from "../helpers/db.js";
import { until } from "../helpers/wait.js";

const REDIS_URL = process.env.TEST_REDIS_URL;

async function post(yoga: Yoga, body: unknown) {
  const response = await yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { data?: any; errors?: Array<{ extensions?: any }> };
  return { status: response.status, data: json.data, code: json.errors?.[0]?.extensions?.code };
}

const apq = (hash: string, query?: string) => ({
  ...(query ? { query } : {}),
  extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
});

/** A valid document of about `chars` characters (a comment is no token: under every limit). */
const documentOf = (chars: number) => `# ${randomBytes(8).toString("hex")} ${"x".repeat(chars)}\n{ __typename }`;

// APQ stored whatever text matched its hash, before it was parsed: 1,000 anonymous registrations of
// 950 KB held 1 GB of a 1 GB heap (measured on `node dist/server.js`); with REDIS_URL, Redis kept every
// registration for APQ_TTL (24 h), without any bound on their number.
const STORES: Array<[where: string, redisUrl: string | null]> = [["in memory", null]];
if (REDIS_URL) STORES.push(["in Redis", REDIS_URL]);

describe.each(STORES)("APQ's store is bounded (%s)", (_where, redisUrl) => {
  let testDb: TestDatabase;
  let yoga: Yoga;
  let redis: Redis | null = null;
  const prefix = `igw-attack-${randomBytes(4).toString("hex")}`;

  beforeAll(async () => {
    testDb = await openTestDatabase("pglite", {
      ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix } : {}),
      APQ_MAX_ENTRIES: "3",
      APQ_TTL: "1m",
    });
    yoga = createGraphQLHandler({
      db: testDb.database.prisma,
      config: testDb.config,
      logger: createLogger("silent"),
    });
    if (redisUrl) redis = new Redis(redisUrl);
  });
  afterAll(async () => {
    await yoga?.dispose();
    await testDb?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    }
  });

  it("a document longer than APQ_MAX_DOCUMENT_CHARS runs, but is not kept under its hash", async () => {
    const long = documentOf(APQ_MAX_DOCUMENT_CHARS + 100);
    const hash = sha256Hex(long);
    expect(await post(yoga, apq(hash, long))).toMatchObject({ status: 200, data: { __typename: "Query" } });
    expect(await post(yoga, apq(hash))).toMatchObject({ status: 404, code: "PERSISTED_QUERY_NOT_FOUND" });

    const short = documentOf(1000);
    expect(await post(yoga, apq(sha256Hex(short), short))).toMatchObject({ status: 200 });
    expect(await post(yoga, apq(sha256Hex(short)))).toMatchObject({ status: 200, data: { __typename: "Query" } });
  });

  it("keeps at most APQ_MAX_ENTRIES hashes: the oldest registered goes first", async () => {
    const documents = Array.from({ length: 5 }, () => documentOf(100));
    for (const document of documents) {
      expect(await post(yoga, apq(sha256Hex(document), document))).toMatchObject({ status: 200 });
    }
    const kept = [];
    for (const document of documents) kept.push((await post(yoga, apq(sha256Hex(document)))).status === 200);
    expect(kept).toEqual([false, false, true, true, true]);
    if (redis) expect((await redis.keys(`${prefix}:apq:*`)).length).toBe(3);
  });

  it("a document run by its hash is checked as free text is: the depth limit, the shield rules", async () => {
    const deep = `{ viewer { organizations { organization { members { edges { node { user { organizations {
      organization { members { edges { node { id } } } } } } } } } } } } }`;
    const guarded = `{ organization(id: "${randomBytes(4).toString("hex")}") { id } }`;
    for (const document of [deep, guarded]) {
      const free = await post(yoga, { query: document });
      expect(free.code).toBeTruthy();
      const registered = await post(yoga, apq(sha256Hex(document), document));
      const byHash = await post(yoga, apq(sha256Hex(document)));
      for (const answer of [registered, byHash]) {
        expect(answer).toMatchObject({ status: free.status, code: free.code });
        expect(answer.data?.organization ?? null).toBeNull();
      }
    }
  });

  it("a hash in another case or of another length is not looked up (APQ checks lowercase sha256)", async () => {
    const document = documentOf(10);
    const hash = sha256Hex(document);
    expect(await post(yoga, apq(hash.toUpperCase(), document))).toMatchObject({
      status: 400,
      code: "PERSISTED_QUERY_MISMATCH",
    });
    expect(await post(yoga, apq(hash, document))).toMatchObject({ status: 200 });
    for (const other of [hash.toUpperCase(), `${hash}0`, hash.slice(1)]) {
      expect(await post(yoga, apq(other))).toMatchObject({ status: 404, code: "PERSISTED_QUERY_NOT_FOUND" });
    }
  });
});

/** The sockets the HTTP server holds open (upgraded ones included). */
const openSockets = (server: Server) =>
  new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));

describe("graphql-ws: a client that does not read", () => {
  let running: RunningServer;
  const lines: Array<{ msg?: string }> = [];
  beforeAll(async () => {
    running = await startServer(
      loadConfig({ DATA_DIR: "memory://", HOST: "127.0.0.1", PORT: "0", RATE_LIMIT_PER_MINUTE: "1000000" }),
      createLogger("warn", { write: (line: string) => void lines.push(JSON.parse(line)) }),
    );
  });
  afterAll(async () => {
    await running?.close();
  });

  // graphql-ws read every message and sent every result, and ws buffered what the socket could not take:
  // one anonymous connection that stopped reading and sent 1,000 such queries grew the server by 470 MB.
  it("is disconnected once WS_MAX_UNSENT_BYTES of its results wait unsent, not buffered without bound", async () => {
    const aliases = Array.from({ length: 25 }, (_, i) => `a${i}: _service { sdl }`).join(" ");
    const operations = 200;
    const socket = new WebSocket(`${running.url.replace("http", "ws")}/graphql`, "graphql-transport-ws");
    let received = 0;
    let closedWith: number | undefined;
    socket.on("close", (code) => {
      closedWith = code;
    });
    await new Promise<void>((resolve, reject) => {
      socket.on("error", reject);
      socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
      socket.on("message", (data) => {
        if (JSON.parse(String(data)).type === "connection_ack") resolve();
        else received += 1;
      });
    });
    // From here on the client reads nothing: what the server sends waits in its buffers.
    (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    for (let i = 0; i < operations; i += 1) {
      socket.send(JSON.stringify({ id: String(i), type: "subscribe", payload: { query: `{ ${aliases} }` } }));
    }
    await until("the server to drop the connection", async () => (await openSockets(running.server)) === 0, 20_000);
    (socket as unknown as { _socket: { resume(): void } })._socket.resume();
    await until("the client to see the end", () => closedWith !== undefined);
    expect(closedWith).toBe(1006);
    // What it got is what the kernel's buffers held (a few MB of 350 KB results): far from all 200.
    expect(received).toBeLessThan(operations / 2);
    // One line for the connection, not one for each result it had still to get.
    expect(lines.filter((line) => line.msg === "graphql-ws client does not read")).toHaveLength(1);
  });
});

describe("graphql-ws: protocol errors", () => {
  let running: RunningServer;
  beforeAll(async () => {
    running = await startServer(
      loadConfig({ DATA_DIR: "memory://", HOST: "127.0.0.1", PORT: "0", MAX_BODY_BYTES: "10000" }),
      createLogger("silent"),
    );
  });
  afterAll(async () => {
    await running?.close();
  });

  // graphql-ws printed each to stderr with its stack ("Internal error emitted on a WebSocket socket"):
  // a dozen lines outside the JSON log per connection, for a few bytes from an anonymous client.
  it("a message past MAX_BODY_BYTES closes with 1009 and is not printed as an internal error", async () => {
    const printed = vi.spyOn(console, "error");
    try {
      const socket = new WebSocket(`${running.url.replace("http", "ws")}/graphql`, "graphql-transport-ws");
      const code = await new Promise<number>((resolve, reject) => {
        socket.on("error", reject);
        socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
        socket.on("message", () =>
          socket.send(
            JSON.stringify({ id: "1", type: "subscribe", payload: { query: `#${"x".repeat(20_000)}\n{ a }` } }),
          ),
        );
        socket.on("close", (closed) => resolve(closed));
      });
      expect(code).toBe(1009);
      expect(printed.mock.calls.map((args) => String(args[0]))).toEqual([]);
    } finally {
      printed.mockRestore();
    }
  });
});
