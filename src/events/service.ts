import type { Config } from "../config.js";
import { onOutboxCommit } from "../domain/outbox.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../observability/logger.js";
import { createEventBus, type EventBus } from "./bus.js";
import { startInviteMailer } from "./mail.js";
import { startPruner } from "./prune.js";
import { startRelay } from "./relay.js";
import { startWebhookDispatcher } from "./webhooks.js";

export interface Events {
  bus: EventBus;
  /** Stops the relay, the pruner, the webhook dispatcher and the mailer (after their rounds in progress), then the bus. */
  close(): Promise<void>;
}

/**
 * Everything after the outbox: the bus organizationEvents subscribes to, the relay that publishes
 * committed outbox rows on it, with WEBHOOK_URL the webhook dispatcher, with SMTP_URL the invite
 * mailer (all three woken by each commit that wrote outbox rows, and polling), and the pruner that
 * keeps the outbox to OUTBOX_RETENTION. One per process (src/server.ts).
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
  const relay = startRelay({ db, bus, logger, pollIntervalMs: events.pollIntervalMs });
  const pruner = startPruner({
    db,
    logger,
    retentionMs: events.retentionMs,
    webhooks: dispatcher !== null,
    emails: mailer !== null,
  });
  // A commit that wrote outbox rows has something to publish and deliveries due at once.
  const stopWaking = onOutboxCommit(db, () => {
    relay.wake();
    dispatcher?.wake();
    mailer?.wake();
  });
  return {
    bus,
    async close() {
      stopWaking();
      await Promise.all([relay.close(), pruner.close(), dispatcher?.close(), mailer?.close()]);
      await bus.close();
    },
  };
}
