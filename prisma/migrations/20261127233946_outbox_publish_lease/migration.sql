-- AlterTable
ALTER TABLE "OutboxEvent" ADD COLUMN     "publishLeaseUntil" TIMESTAMP(3);

-- Deliveries are due from the moment a row is written, no longer from when the relay published it
-- (hand-written): rows written before this migration and not yet published become due now, as the
-- relay would have made them (emails for invite.created and invite.refreshed only).
UPDATE "OutboxEvent" SET "webhookNextAttemptAt" = "createdAt"
  WHERE "publishedAt" IS NULL AND "webhookNextAttemptAt" IS NULL AND "webhookDeliveredAt" IS NULL;
UPDATE "OutboxEvent" SET "emailNextAttemptAt" = "createdAt"
  WHERE "publishedAt" IS NULL AND "emailNextAttemptAt" IS NULL AND "emailDeliveredAt" IS NULL
    AND "action" IN ('invite.created', 'invite.refreshed');
