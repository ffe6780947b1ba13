/**
 * The event bus with Redis unreachable (REDIS_URL on a closed port): a subscriber that comes and
 * goes, and the bus's shutdown, leave no promise rejection unhandled (an unhandled rejection ends
 * the process). No database, no Redis server needed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEventBus } from "../src/events/bus.js";
import { createLogger } from "../src/logger.js";

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

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
