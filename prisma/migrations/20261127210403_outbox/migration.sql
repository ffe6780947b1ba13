-- CreateTable
CREATE TABLE "OutboxEvent" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "targetId" TEXT,
    "actorId" TEXT,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "publishedAt" TIMESTAMP(3),
    "webhookAttempts" INTEGER NOT NULL DEFAULT 0,
    "webhookNextAttemptAt" TIMESTAMP(3),
    "webhookDeliveredAt" TIMESTAMP(3),
    "webhookLastError" TEXT,

    CONSTRAINT "OutboxEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "OutboxEvent_createdAt_idx" ON "OutboxEvent"("createdAt");

-- The relay's queue: rows not yet published, oldest first (hand-written: Prisma has no partial indexes).
CREATE INDEX "OutboxEvent_unpublished_idx" ON "OutboxEvent"("createdAt") WHERE "publishedAt" IS NULL;

-- The webhook dispatcher's queue: rows with an attempt due.
CREATE INDEX "OutboxEvent_webhook_due_idx" ON "OutboxEvent"("webhookNextAttemptAt") WHERE "webhookNextAttemptAt" IS NOT NULL;
