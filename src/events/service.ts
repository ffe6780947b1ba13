import type { Config } from "../config.js";
import { onOutboxCommit } from "../domain/outbox.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import { createEventBus, type EventBus } from "./bus.js";
import { startInviteMailer } from "./mail.js";
import { startRelay } from "./relay.js";
import { startWebhookDispatcher } from "./webhooks.js";

export interface Events {
  bus: EventBus;
  /** Stops the relay, the webhook dispatcher and the mailer (after their rounds in progress), then the bus. */
  close(): Promise<void>;
}

/**
 * Everything after the outbox: the bus organizationEvents subscribes to, the relay that publishes
 * committed outbox rows on it (woken by each commit that wrote some), with WEBHOOK_URL the webhook
 * dispatcher, with SMTP_URL the invite mailer. One per process (src/server.ts).
 */
export function startEvents({ db, config, logger }: { db: PrismaClient; config: Config; logger: Logger }): Events {
  const { events } = config;
  const bus = createEventBus(events, logger);
  const dispatcher = events.webhook
    ? startWebhookDispatcher({ db, config: events.webhook, logger, pollIntervalMs: events.pollIntervalMs })
    : null;
  const mailer = events.mail
    ? startInviteMailer({ db, config: events.mail, logger, pollIntervalMs: events.pollIntervalMs })
    : null;
  const relay = startRelay({
    db,
    bus,
    logger,
    pollIntervalMs: events.pollIntervalMs,
    retentionMs: events.retentionMs,
    webhooks: dispatcher !== null,
    emails: mailer !== null,
    onDeliveriesDue: () => {
      dispatcher?.wake();
      mailer?.wake();
    },
  });
  const stopWaking = onOutboxCommit(db, relay.wake);
  return {
    bus,
    async close() {
      stopWaking();
      await Promise.all([relay.close(), dispatcher?.close(), mailer?.close()]);
      await bus.close();
    },
  };
}
