import type { OutboxPayload } from "../domain/outbox.js";
import { Prisma, type PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import type { EventBus } from "./bus.js";
import { startWorker, type Worker } from "./worker.js";

const BATCH = 100;
/** The actions whose invite is emailed (SMTP_URL). */
export const MAILED_ACTIONS = ["invite.created", "invite.refreshed"];
const PRUNE_EVERY_MS = 60_000;

export interface RelayOptions {
  db: PrismaClient;
  bus: EventBus;
  logger: Logger;
  pollIntervalMs: number;
  retentionMs: number;
  /** Webhooks are on: each published row becomes due for delivery. */
  webhooks: boolean;
  /** Invite emails are on: each published invite.created / invite.refreshed row becomes due. */
  emails: boolean;
  /** After a batch made deliveries due. */
  onDeliveriesDue?: () => void;
}

/**
 * The outbox relay: publishes committed outbox rows to organizationEvents subscribers (the bus),
 * oldest first, then marks them published. Rows are claimed with FOR UPDATE SKIP LOCKED inside the
 * relay's transaction, so replicas sharing a PostgreSQL database split the work and never publish a
 * row twice while both are alive; the mark commits only after the publish succeeded, so a crash in
 * between publishes the row again after a restart (at least once). The mutation path only wakes the
 * relay after its commit (src/domain/outbox.ts); the poll picks up what a crashed replica left.
 */
export function startRelay(options: RelayOptions): Worker {
  const { db, bus, webhooks, emails } = options;
  let lastPrune = 0;

  async function round(): Promise<boolean> {
    const published = await db.$transaction(
      async (tx) => {
        const rows = await tx.$queryRaw<{ id: string; payload: OutboxPayload }[]>`
          SELECT "id", "payload" FROM "OutboxEvent" WHERE "publishedAt" IS NULL
          ORDER BY "createdAt", "id" LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`;
        if (rows.length === 0) return 0;
        for (const row of rows) await bus.publish(row.payload);
        const now = new Date();
        await tx.$executeRaw`
          UPDATE "OutboxEvent" SET "publishedAt" = ${now}, "webhookNextAttemptAt" = ${webhooks ? now : null},
            "emailNextAttemptAt" = CASE WHEN ${emails} AND "action" IN (${Prisma.join(MAILED_ACTIONS)})
              THEN ${now}::timestamp(3) ELSE NULL END
          WHERE "id" IN (${Prisma.join(rows.map((r) => r.id))})`;
        return rows.length;
      },
      { maxWait: 10_000, timeout: 20_000 },
    );
    if (published > 0 && (webhooks || emails)) options.onDeliveriesDue?.();
    if (Date.now() - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = Date.now();
      await prune();
    }
    return published === BATCH;
  }

  /** Deletes rows older than OUTBOX_RETENTION that are done: published, and no delivery attempt due. */
  async function prune(): Promise<void> {
    const cutoff = new Date(Date.now() - options.retentionMs);
    const deleted = await db.$executeRaw`
      DELETE FROM "OutboxEvent" WHERE "id" IN (
        SELECT "id" FROM "OutboxEvent" WHERE "createdAt" < ${cutoff}
          AND "publishedAt" IS NOT NULL AND "webhookNextAttemptAt" IS NULL AND "emailNextAttemptAt" IS NULL
        LIMIT 10000)`;
    if (deleted > 0) options.logger.debug({ deleted }, "outbox rows past OUTBOX_RETENTION deleted");
  }

  return startWorker("relay", options.pollIntervalMs, round, options.logger);
}
