import { createHmac } from "node:crypto";
import type { WebhookConfig } from "../config.js";
import type { OutboxPayload } from "../domain/outbox.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../observability/logger.js";
import { startDispatcher } from "./dispatcher.js";
import type { Worker } from "./worker.js";

/**
 * The signature of one delivery: HMAC-SHA256 with WEBHOOK_SECRET over `<timestamp>.<raw body>`, hex.
 * Signing the timestamp too lets a receiver refuse an old request replayed later.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/**
 * The webhook dispatcher (WEBHOOK_URL): POSTs each committed outbox row as JSON, signed, retried
 * with exponential backoff up to WEBHOOK_MAX_ATTEMPTS (src/events/dispatcher.ts: state in the row,
 * SKIP LOCKED leases, at least once: a receiver deduplicates on `x-igw-event-id`).
 */
export function startWebhookDispatcher(options: {
  db: PrismaClient;
  config: WebhookConfig;
  logger: Logger;
  pollIntervalMs: number;
}): Worker {
  const { config } = options;

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

  return startDispatcher({
    db: options.db,
    channel: "webhook",
    retry: config,
    leaseMs: config.timeoutMs * 2 + 5_000,
    deliver: post,
    logger: options.logger,
    pollIntervalMs: options.pollIntervalMs,
  });
}
