import type { OutboxPayload } from "../domain/outbox.js";
import { Prisma, type PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../observability/logger.js";
import type { EventBus } from "./bus.js";
import { startWorker, type Worker } from "./worker.js";

const BATCH = 100;
/**
 * How long a claimed batch stays the claiming relay's: longer than publishing 100 events takes with
 * Redis answering (ioredis gives up on a command after its connect timeout and one retry).
 */
const PUBLISH_LEASE_MS = 30_000;

export interface RelayOptions {
  db: PrismaClient;
  bus: EventBus;
  logger: Logger;
  pollIntervalMs: number;
}

/**
 * The outbox relay: publishes committed outbox rows to organizationEvents subscribers (the bus),
 * oldest first, then marks them published.
 *
 * A batch is claimed by one UPDATE that leases its rows (`publishLeaseUntil`), choosing them with
 * FOR UPDATE SKIP LOCKED: replicas sharing a PostgreSQL database split the work, and no transaction
 * or row lock is held while publishing (a slow Redis does not hold a PostgreSQL connection, nor
 * PGlite's only one). Rows are marked published after their publish succeeded; on a failure, the
 * rows published so far are marked and the rest released for the next round. A relay that dies
 * mid-batch leaves its rows to be claimed again when the lease ends: publishing is at least once.
 * The mutation path wakes the relay after its commit (src/domain/outbox.ts); the poll picks up the
 * rest. Deliveries (webhooks, emails) do not wait for this: rows are due for them when written.
 */
export function startRelay(options: RelayOptions): Worker {
  const { db, bus } = options;

  async function round(): Promise<boolean> {
    const now = new Date();
    const rows = await db.$queryRaw<{ id: string; payload: OutboxPayload; createdAt: Date }[]>`
      UPDATE "OutboxEvent" SET "publishLeaseUntil" = ${new Date(now.getTime() + PUBLISH_LEASE_MS)}
      WHERE "id" IN (
        SELECT "id" FROM "OutboxEvent"
        WHERE "publishedAt" IS NULL AND ("publishLeaseUntil" IS NULL OR "publishLeaseUntil" <= ${now})
        ORDER BY "createdAt", "id" LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
      RETURNING "id", "payload", "createdAt"`;
    if (rows.length === 0) return false;
    // RETURNING keeps no order: publish oldest first, as the rows were chosen.
    rows.sort((x, y) => x.createdAt.getTime() - y.createdAt.getTime() || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    const published: string[] = [];
    let failure: unknown = null;
    for (const row of rows) {
      try {
        await bus.publish(row.payload);
      } catch (error) {
        failure = error;
        break;
      }
      published.push(row.id);
    }
    if (published.length > 0) {
      await db.$executeRaw`
        UPDATE "OutboxEvent" SET "publishedAt" = ${new Date()}, "publishLeaseUntil" = NULL
        WHERE "id" IN (${Prisma.join(published)})`;
    }
    if (failure !== null) {
      const rest = rows.slice(published.length).map((row) => row.id);
      // Released for the next round (if this fails too, the lease ends on its own).
      await db.$executeRaw`
        UPDATE "OutboxEvent" SET "publishLeaseUntil" = NULL
        WHERE "id" IN (${Prisma.join(rest)}) AND "publishedAt" IS NULL`.catch(() => {});
      throw failure;
    }
    return rows.length === BATCH;
  }

  return startWorker("relay", options.pollIntervalMs, round, options.logger);
}
