import { createHmac } from "node:crypto";
import type { WebhookConfig } from "../config.js";
import type { OutboxPayload } from "../domain/outbox.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import { startWorker, type Worker } from "./worker.js";

const BATCH = 10;

/**
 * The signature of one delivery: HMAC-SHA256 with WEBHOOK_SECRET over `<timestamp>.<raw body>`, hex.
 * Signing the timestamp too lets a receiver refuse an old request replayed later.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** The delay before attempt `attempts + 1`: WEBHOOK_BACKOFF doubled per failed attempt, capped, ±10 %. */
export function backoffMs(config: WebhookConfig, attempts: number): number {
  const base = Math.min(config.maxBackoffMs, config.backoffMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.9 + Math.random() * 0.2));
}

/**
 * The webhook dispatcher (WEBHOOK_URL): POSTs each published outbox row as JSON, retrying failures
 * with exponential backoff up to WEBHOOK_MAX_ATTEMPTS; the state of each delivery (attempts, next
 * attempt, delivered at, last error) lives in its OutboxEvent row.
 *
 * A row is claimed by one UPDATE that counts the attempt and pushes its next attempt past the
 * request's timeout (a lease), choosing rows with FOR UPDATE SKIP LOCKED: replicas never claim the
 * same row at once, and no transaction stays open during the HTTP request. A replica that dies
 * mid-request leaves the row due again when the lease ends: delivery is at least once, and a
 * receiver deduplicates on `x-igw-event-id` (the payload's `id`).
 */
export function startWebhookDispatcher(options: {
  db: PrismaClient;
  config: WebhookConfig;
  logger: Logger;
  pollIntervalMs: number;
}): Worker {
  const { db, config, logger } = options;
  const leaseMs = config.timeoutMs * 2 + 5_000;

  async function round(): Promise<boolean> {
    const now = new Date();
    const rows = await db.$queryRaw<{ id: string; payload: OutboxPayload; webhookAttempts: number }[]>`
      UPDATE "OutboxEvent" SET "webhookAttempts" = "webhookAttempts" + 1,
        "webhookNextAttemptAt" = ${new Date(now.getTime() + leaseMs)}
      WHERE "id" IN (
        SELECT "id" FROM "OutboxEvent" WHERE "webhookNextAttemptAt" <= ${now}
        ORDER BY "webhookNextAttemptAt" LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
      RETURNING "id", "payload", "webhookAttempts"`;
    await Promise.all(rows.map((row) => deliver(row)));
    return rows.length === BATCH;
  }

  async function deliver(row: { id: string; payload: OutboxPayload; webhookAttempts: number }): Promise<void> {
    const error = await post(row.payload);
    if (error === null) {
      await db.$executeRaw`
        UPDATE "OutboxEvent" SET "webhookDeliveredAt" = ${new Date()}, "webhookNextAttemptAt" = NULL,
          "webhookLastError" = NULL
        WHERE "id" = ${row.id} AND "webhookDeliveredAt" IS NULL`;
      return;
    }
    const giveUp = row.webhookAttempts >= config.maxAttempts;
    const next = giveUp ? null : new Date(Date.now() + backoffMs(config, row.webhookAttempts));
    await db.$executeRaw`
      UPDATE "OutboxEvent" SET "webhookNextAttemptAt" = ${next}, "webhookLastError" = ${error.slice(0, 1000)}
      WHERE "id" = ${row.id} AND "webhookDeliveredAt" IS NULL`;
    const log = { eventId: row.id, attempts: row.webhookAttempts, error };
    if (giveUp) logger.error(log, "webhook delivery given up after WEBHOOK_MAX_ATTEMPTS");
    else logger.warn({ ...log, nextAttemptAt: next }, "webhook delivery failed; will retry");
  }

  /** One POST; null when the receiver answered 2xx, else what went wrong. */
  async function post(payload: OutboxPayload): Promise<string | null> {
    const body = JSON.stringify(payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    try {
      const response = await fetch(config.url, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.timeout(config.timeoutMs),
        headers: {
          "content-type": "application/json",
          "user-agent": "invites-gateway-webhooks",
          "x-igw-event-id": payload.id,
          "x-igw-event": payload.action,
          "x-igw-timestamp": timestamp,
          "x-igw-signature": webhookSignature(config.secret, timestamp, body),
        },
        body,
      });
      await response.body?.cancel();
      return response.ok ? null : `HTTP ${response.status}`;
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      return error instanceof Error ? `${error.name}: ${error.message}${cause ? ` (${cause})` : ""}` : String(error);
    }
  }

  return startWorker("webhooks", options.pollIntervalMs, round, logger);
}
