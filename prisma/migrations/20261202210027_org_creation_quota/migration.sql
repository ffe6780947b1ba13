-- CreateTable
CREATE TABLE "OrgCreationQuota" (
    "userId" TEXT NOT NULL,
    "day" DATE NOT NULL,
    "count" INTEGER NOT NULL,

    CONSTRAINT "OrgCreationQuota_pkey" PRIMARY KEY ("userId","day")
);

-- AddForeignKey
ALTER TABLE "OrgCreationQuota" ADD CONSTRAINT "OrgCreationQuota_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Organizations created per user per day: a counter, never negative.
ALTER TABLE "OrgCreationQuota" ADD CONSTRAINT "OrgCreationQuota_count_check" CHECK ("count" >= 0);
