import type { OutboxPayload } from "../domain/outbox.js";
import { Prisma, type PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../observability/logger.js";
import { startWorker, type Worker } from "./worker.js";

const BATCH = 10;

/** How a channel retries: the first retry after backoffMs, doubled per failed attempt, capped. */
export interface RetryPolicy {
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** The delay before attempt `attempts + 1`: backoffMs doubled per failed attempt, capped, ±10 %. */
export function backoffMs(policy: RetryPolicy, attempts: number): number {
  const base = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.9 + Math.random() * 0.2));
}

/**
 * One delivery attempt: null when delivered, else what went wrong. `{ skip }`: nothing to deliver
 * any more (e.g. the invite was revoked before its email went out): no further attempt.
 */
export type Deliver = (payload: OutboxPayload) => Promise<string | null | { skip: string }>;

/**
 * Delivers outbox rows on one channel (`webhook`, `email`), whose state lives in the row's columns
 * `<channel>Attempts`, `<channel>NextAttemptAt`, `<channel>DeliveredAt`, `<channel>LastError`: a row
 * is due when its next attempt's time has come (set to the row's createdAt when it is written).
 *
 * A row is claimed by one UPDATE that counts the attempt and pushes its next attempt `leaseMs` ahead
 * (a lease), choosing rows with FOR UPDATE SKIP LOCKED: replicas never claim the same row at once,
 * and no transaction stays open while delivering. A replica that dies mid-delivery leaves the row
 * due again when the lease ends: delivery is at least once. Once delivered, a row is never claimed
 * again; after `maxAttempts` failures it is given up (last error kept).
 */
export function startDispatcher(options: {
  db: PrismaClient;
  channel: "webhook" | "email";
  retry: RetryPolicy;
  leaseMs: number;
  deliver: Deliver;
  logger: Logger;
  pollIntervalMs: number;
}): Worker {
  const { db, channel, retry, logger } = options;
  const col = (name: string) => Prisma.raw(`"${channel}${name}"`);
  const [attempts, nextAttemptAt, deliveredAt, lastError] = [
    "Attempts",
    "NextAttemptAt",
    "DeliveredAt",
    "LastError",
  ].map(col) as [Prisma.Sql, Prisma.Sql, Prisma.Sql, Prisma.Sql];

  async function round(): Promise<boolean> {
    const now = new Date();
    const rows = await db.$queryRaw<{ id: string; payload: OutboxPayload; attempts: number }[]>`
      UPDATE "OutboxEvent" SET ${attempts} = ${attempts} + 1,
        ${nextAttemptAt} = ${new Date(now.getTime() + options.leaseMs)}
      WHERE "id" IN (
        SELECT "id" FROM "OutboxEvent" WHERE ${nextAttemptAt} <= ${now} AND ${deliveredAt} IS NULL
        ORDER BY ${nextAttemptAt} LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
      RETURNING "id", "payload", ${attempts} AS "attempts"`;
    // Every claimed row's delivery runs to its end before the round does (close() waits for the
    // round): one failing to record its outcome does not leave the others running unwatched.
    const settled = await Promise.allSettled(rows.map((row) => settle(row)));
    const failed = settled.find((result): result is PromiseRejectedResult => result.status === "rejected");
    if (failed) throw failed.reason;
    return rows.length === BATCH;
  }

  async function settle(row: { id: string; payload: OutboxPayload; attempts: number }): Promise<void> {
    let outcome: Awaited<ReturnType<Deliver>>;
    try {
      outcome = await options.deliver(row.payload);
    } catch (error) {
      outcome = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    if (outcome === null) {
      await db.$executeRaw`
        UPDATE "OutboxEvent" SET ${deliveredAt} = ${new Date()}, ${nextAttemptAt} = NULL, ${lastError} = NULL
        WHERE "id" = ${row.id} AND ${deliveredAt} IS NULL`;
      return;
    }
    if (typeof outcome === "object") {
      await db.$executeRaw`
        UPDATE "OutboxEvent" SET ${nextAttemptAt} = NULL, ${lastError} = ${outcome.skip}
        WHERE "id" = ${row.id} AND ${deliveredAt} IS NULL`;
      return;
    }
    const giveUp = row.attempts >= retry.maxAttempts;
    const next = giveUp ? null : new Date(Date.now() + backoffMs(retry, row.attempts));
    await db.$executeRaw`
      UPDATE "OutboxEvent" SET ${nextAttemptAt} = ${next}, ${lastError} = ${outcome.slice(0, 1000)}
      WHERE "id" = ${row.id} AND ${deliveredAt} IS NULL`;
    const log = { channel, eventId: row.id, attempts: row.attempts, error: outcome };
    if (giveUp) logger.error(log, "delivery given up after its maximum attempts");
    else logger.warn({ ...log, nextAttemptAt: next }, "delivery failed; will retry");
  }

  return startWorker(`${channel}s`, options.pollIntervalMs, round, logger);
}
