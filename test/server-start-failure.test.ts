/**
 * A start that fails part-way (here: the port is taken, so listen fails after the database, the
 * token listener, the outbox relay, the Redis connections and the operator socket were started)
 * stops all of them before it rejects: nothing it opened outlives it. And a shutdown runs every
 * step even when one fails (src/server.ts stopAll), so tracing is flushed whatever happened before.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/observability/logger.js";
import { sendToOperatorSocket } from "../src/operator/socket.js";
import { startServer, stopAll } from "../src/server.js";
import { uniqueEmail } from "./helpers/app.js";
import { adminQuery } from "./helpers/db.js";

const DATABASE_URL = process.env.TEST_DATABASE_URL;
const REDIS_URL = process.env.TEST_REDIS_URL;

/** TCP connections this process holds open (PostgreSQL, Redis; listening servers are not counted). */
function openTcpSockets(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === "TCPSocketWrap").length;
}

/** Waits (at most `ms`) until `done()` holds: a closed socket leaves the list when its close event ran. */
async function settles(done: () => boolean, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

describe("a start that fails because the port is taken", () => {
  let blocker: Server;
  let takenPort: number;
  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve()));
    takenPort = (blocker.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  });

  it.skipIf(!DATABASE_URL)(
    "rejects and leaves no connection open: PostgreSQL (pool, token listener, relay) and Redis",
    async () => {
      const serverUrl = DATABASE_URL as string;
      const name = `igw_t_${randomBytes(6).toString("hex")}`;
      await adminQuery(serverUrl, `CREATE DATABASE ${name}`);
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      const config = loadConfig({
        DATABASE_URL: url.toString(),
        HOST: "127.0.0.1",
        PORT: String(takenPort),
        OUTBOX_POLL_INTERVAL: "250ms",
        ...(REDIS_URL ? { REDIS_URL, REDIS_KEY_PREFIX: `igw-test-${randomBytes(6).toString("hex")}` } : {}),
      });
      const before = openTcpSockets();
      try {
        await expect(startServer(config, createLogger("silent"))).rejects.toMatchObject({ code: "EADDRINUSE" });
        // Without FORCE, PostgreSQL refuses to drop a database anyone is still connected to (after
        // waiting up to 5 s for backends that are leaving): the pool, the LISTEN client are closed.
        await expect(adminQuery(serverUrl, `DROP DATABASE ${name}`)).resolves.toBeUndefined();
        // And every other TCP connection the start opened (the Redis clients).
        expect(await settles(() => openTcpSockets() <= before), "TCP connections left open").toBe(true);
      } finally {
        await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    },
  );

  it("rejects and stops serving operator commands (embedded database in a DATA_DIR)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "igw-start-fail-"));
    try {
      const config = loadConfig({ DATA_DIR: dataDir, HOST: "127.0.0.1", PORT: String(takenPort) });
      await expect(startServer(config, createLogger("silent"))).rejects.toMatchObject({ code: "EADDRINUSE" });
      // null: no server answers on DATA_DIR/cli.sock, so the CLI opens the database itself.
      expect(await sendToOperatorSocket(dataDir, ["user", "create", "--email", uniqueEmail("late")])).toBeNull();
      // The embedded database was closed and its lock released: a second start in the directory works.
      const running = await startServer(
        loadConfig({ DATA_DIR: dataDir, HOST: "127.0.0.1", PORT: "0" }),
        createLogger("silent"),
      );
      await running.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("stopAll (the steps of a shutdown)", () => {
  it("runs every step in order even when one fails, then throws the first failure", async () => {
    const ran: string[] = [];
    const closing = stopAll([
      () => ran.push("server"),
      async () => {
        ran.push("events");
        throw new Error("Redis would not quit");
      },
      () => ran.push("database"),
      async () => {
        ran.push("tracing");
        throw new Error("second failure");
      },
    ]);
    await expect(closing).rejects.toThrow("Redis would not quit");
    expect(ran).toEqual(["server", "events", "database", "tracing"]);
  });
});
