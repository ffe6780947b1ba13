-- Member search (Organization.members(search:), GET /v1/orgs/{id}/members?search=): a case-insensitive
-- substring of the name or the email (ILIKE '%…%'), through trigram GIN indexes, so that it stays an
-- index scan at 100,000 members. pg_trgm ships with PostgreSQL's contrib and is a trusted extension
-- (the database owner may create it); PGlite loads it from @electric-sql/pglite/contrib/pg_trgm
-- (src/pglite-extensions.ts).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN     "details" JSONB;

-- CreateIndex
CREATE INDEX "User_email_trgm_idx" ON "User" USING GIN ("email" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "User_displayName_trgm_idx" ON "User" USING GIN ("displayName" gin_trgm_ops);
