-- AlterTable
ALTER TABLE "OutboxEvent" ADD COLUMN     "emailAttempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "emailDeliveredAt" TIMESTAMP(3),
ADD COLUMN     "emailLastError" TEXT,
ADD COLUMN     "emailNextAttemptAt" TIMESTAMP(3);

-- The invite mailer's queue: rows with an attempt due (hand-written: Prisma has no partial indexes).
CREATE INDEX "OutboxEvent_email_due_idx" ON "OutboxEvent"("emailNextAttemptAt") WHERE "emailNextAttemptAt" IS NOT NULL;
