/**
 * The event bus with Redis unreachable (REDIS_URL on a closed port): a subscriber that comes and
 * goes, and the bus's shutdown, leave no promise rejection unhandled (an unhandled rejection ends
 * the process); a SUBSCRIBE that failed is sent again once Redis is back. No database; the last test
 * needs a Redis server (TEST_REDIS_URL).
 */
import { randomBytes } from "node:crypto";
import { createServer, Socket as NetSocket, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEventBus } from "../../src/events/bus.js";
import { createLogger } from "../../src/observability/logger.js";
import { until } from "../helpers/wait.js";

describe("event bus with Redis unreachable", () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on("unhandledRejection", onUnhandled);
  });
  afterEach(() => {
    process.off("unhandledRejection", onUnhandled);
  });

  it("a subscriber leaving (UNSUBSCRIBE fails) and close() leave no rejection unhandled", async () => {
    const lines: string[] = [];
    const logger = createLogger("warn", { write: (line: string) => void lines.push(line) });
    // Nothing listens on port 1: every Redis command fails.
    const bus = createEventBus({ redisUrl: "redis://127.0.0.1:1", channelPrefix: "igw-test-down" }, logger);
    const events = bus.subscribe("org-1");
    const pending = events.next(); // starts the subscription: SUBSCRIBE, which fails
    await until("SUBSCRIBE to fail", () => lines.some((l) => l.includes("Redis SUBSCRIBE failed")));
    await events.return?.(); // the organization's last subscriber leaves: UNSUBSCRIBE
    expect(await pending).toMatchObject({ done: true });
    await until(
      "UNSUBSCRIBE to fail",
      () => unhandled.length > 0 || lines.some((l) => l.includes("Redis UNSUBSCRIBE failed")),
    );
    await expect(bus.close()).resolves.toBeUndefined();
    await sleep(0);
    expect(unhandled).toEqual([]);
    expect(bus.subscriptions()).toBe(0);
  });
});

/** `.ci/run` sets TEST_REDIS_URL (Redis on 127.0.0.1:6379). */
const REDIS_URL = process.env.TEST_REDIS_URL;

describe.skipIf(!REDIS_URL)("event bus when Redis comes back", () => {
  it("sends a SUBSCRIBE that failed again once Redis is ready, and the subscriber gets events", async () => {
    // A port with nothing listening on it (yet): Redis is down.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const lines: string[] = [];
    const logger = createLogger("warn", { write: (line: string) => void lines.push(line) });
    const prefix = `igw-test-${randomBytes(4).toString("hex")}`;
    const bus = createEventBus({ redisUrl: `redis://127.0.0.1:${port}`, channelPrefix: prefix }, logger);
    const target = new URL(REDIS_URL as string);
    const sockets = new Set<Socket>();
    let proxy: Server | undefined;
    const redis = new Redis(REDIS_URL as string);
    try {
      const events = bus.subscribe("org-back");
      const first = events.next();
      await until("SUBSCRIBE to fail", () => lines.some((l) => l.includes("Redis SUBSCRIBE failed")));

      // Redis comes back on that port (a TCP proxy to the real one).
      proxy = createServer((client) => {
        const upstream = new NetSocket();
        sockets.add(client).add(upstream);
        upstream.connect(Number(target.port || 6379), target.hostname);
        client.pipe(upstream).pipe(client);
        client.on("error", () => upstream.destroy());
        upstream.on("error", () => client.destroy());
      });
      await new Promise<void>((resolve) => proxy?.listen(port, "127.0.0.1", resolve));
      const channel = `${prefix}:organizationEvents:org-back`;
      await until(
        "the bus to subscribe in Redis",
        async () => {
          const [, count] = (await redis.pubsub("NUMSUB", channel)) as [string, number];
          return Number(count) === 1;
        },
        20_000,
      );
      const event = {
        id: "e1",
        action: "link.created",
        organizationId: "org-back",
        targetId: null,
        actorId: null,
        createdAt: new Date().toISOString(),
      };
      await bus.publish(event);
      expect(await first).toEqual({ done: false, value: event });
      await events.return?.();
    } finally {
      await bus.close();
      redis.disconnect();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    }
  });
});
