import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../observability/logger.js";
import { startWorker, type Worker } from "./worker.js";

const BATCH = 10_000;
const PRUNE_EVERY_MS = 60_000;

/**
 * Keeps the outbox to OUTBOX_RETENTION: deletes rows written longer ago than that, in batches, every
 * minute, whatever their state. An event is due for every channel from the moment it is written
 * (src/domain/audit.ts), so rows of a channel no replica delivers (WEBHOOK_URL or SMTP_URL unset)
 * wait here until this deletes them; rows of a channel this process delivers that are deleted
 * before they were delivered or given up (retries outlasting the retention, or the relay unable to
 * publish for that long) are logged as a warning with their count.
 */
export function startPruner(options: {
  db: PrismaClient;
  logger: Logger;
  retentionMs: number;
  webhooks: boolean;
  emails: boolean;
  intervalMs?: number;
}): Worker {
  const { db, logger } = options;

  async function round(): Promise<boolean> {
    const cutoff = new Date(Date.now() - options.retentionMs);
    const [gone] = await db.$queryRaw<{ deleted: number; unpublished: number; webhooks: number; emails: number }[]>`
      WITH "gone" AS (
        DELETE FROM "OutboxEvent" WHERE "id" IN (
          SELECT "id" FROM "OutboxEvent" WHERE "createdAt" < ${cutoff} ORDER BY "createdAt" LIMIT ${BATCH})
        RETURNING "publishedAt", "webhookNextAttemptAt", "emailNextAttemptAt")
      SELECT count(*)::int AS "deleted",
        (count(*) FILTER (WHERE "publishedAt" IS NULL))::int AS "unpublished",
        (count(*) FILTER (WHERE "webhookNextAttemptAt" IS NOT NULL))::int AS "webhooks",
        (count(*) FILTER (WHERE "emailNextAttemptAt" IS NOT NULL))::int AS "emails"
      FROM "gone"`;
    if (!gone || gone.deleted === 0) return false;
    const lost = {
      unpublished: gone.unpublished,
      webhooks: options.webhooks ? gone.webhooks : 0,
      emails: options.emails ? gone.emails : 0,
    };
    if (lost.unpublished + lost.webhooks + lost.emails > 0) {
      logger.warn(
        { deleted: gone.deleted, undelivered: lost },
        "outbox rows past OUTBOX_RETENTION deleted undelivered",
      );
    } else {
      logger.debug({ deleted: gone.deleted }, "outbox rows past OUTBOX_RETENTION deleted");
    }
    return gone.deleted === BATCH;
  }

  return startWorker("pruner", options.intervalMs ?? PRUNE_EVERY_MS, round, logger);
}
