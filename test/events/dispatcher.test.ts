/**
 * The delivery dispatcher (src/events/dispatcher.ts) on real outbox rows: a round, and so close(),
 * waits for every delivery it claimed, also when recording another row's outcome failed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { startDispatcher } from "../../src/events/dispatcher.js";
import { createLogger } from "../../src/observability/logger.js";
import { useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";
import { until } from "../helpers/wait.js";

describe.each(DB_KINDS)("dispatcher (%s)", (kind) => {
  const app = useTestApp(kind);

  it("close() waits for a delivery in flight when another row's outcome could not be recorded", async () => {
    const db = app.current.db;
    const [broken, slow] = ["dispatch-broken", "dispatch-slow"];
    const due = new Date(Date.now() - 1_000);
    for (const id of [broken, slow]) {
      await db.outboxEvent.create({
        data: { id, organizationId: "o", action: "link.created", payload: { id }, webhookNextAttemptAt: due },
      });
    }
    // Recording `broken` as delivered fails (the UPDATE raises).
    await db.$executeRawUnsafe(`CREATE FUNCTION dispatch_refuse() RETURNS trigger AS $$
      BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql`);
    await db.$executeRawUnsafe(`CREATE TRIGGER dispatch_refuse BEFORE UPDATE OF "webhookDeliveredAt" ON "OutboxEvent"
      FOR EACH ROW WHEN (NEW."id" = '${broken}' AND NEW."webhookDeliveredAt" IS NOT NULL) EXECUTE FUNCTION dispatch_refuse()`);
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const started = new Set<string>();
    const dispatcher = startDispatcher({
      db,
      channel: "webhook",
      retry: { maxAttempts: 3, backoffMs: 60_000, maxBackoffMs: 60_000 },
      leaseMs: 60_000,
      pollIntervalMs: 3_600_000,
      logger: createLogger("silent"),
      deliver: async (payload) => {
        started.add(payload.id);
        if (payload.id === slow) await gate;
        return null;
      },
    });
    try {
      await until("both deliveries to start", () => started.size === 2);
      const closing = dispatcher.close().then(() => "closed" as const);
      // `broken`'s outcome fails to be recorded at once; `slow` is still being delivered.
      expect(await Promise.race([closing, sleep(1_000).then(() => "waiting" as const)])).toBe("waiting");
      release();
      expect(await closing).toBe("closed");
      const row = await db.outboxEvent.findUniqueOrThrow({ where: { id: slow } });
      expect(row.webhookDeliveredAt).not.toBeNull();
    } finally {
      release();
      await dispatcher.close();
      await db.$executeRawUnsafe(`DROP TRIGGER dispatch_refuse ON "OutboxEvent"`);
      await db.$executeRawUnsafe("DROP FUNCTION dispatch_refuse()");
    }
  });
});
