import type { Config } from "../config.js";
import { onOutboxCommit } from "../domain/outbox.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import { createEventBus, type EventBus } from "./bus.js";
import { startRelay } from "./relay.js";
import { startWebhookDispatcher } from "./webhooks.js";

export interface Events {
  bus: EventBus;
  /** Stops the relay and the webhook dispatcher (waiting for the rounds in progress), then the bus. */
  close(): Promise<void>;
}

/**
 * Everything after the outbox: the bus organizationEvents subscribes to, the relay that publishes
 * committed outbox rows on it (woken by each commit that wrote some), and with WEBHOOK_URL the
 * webhook dispatcher. One per process (src/server.ts).
 */
export function startEvents({ db, config, logger }: { db: PrismaClient; config: Config; logger: Logger }): Events {
  const { events } = config;
  const bus = createEventBus(events, logger);
  const dispatcher = events.webhook
    ? startWebhookDispatcher({ db, config: events.webhook, logger, pollIntervalMs: events.pollIntervalMs })
    : null;
  const relay = startRelay({
    db,
    bus,
    logger,
    pollIntervalMs: events.pollIntervalMs,
    retentionMs: events.retentionMs,
    webhooks: dispatcher !== null,
    onWebhooksDue: () => dispatcher?.wake(),
  });
  const stopWaking = onOutboxCommit(db, relay.wake);
  return {
    bus,
    async close() {
      stopWaking();
      await Promise.all([relay.close(), dispatcher?.close()]);
      await bus.close();
    },
  };
}
