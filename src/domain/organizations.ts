import type { Organization, PrismaClient } from "../generated/prisma/client.js";
import { RateLimitedError } from "./errors.js";
import { inTransaction, type Tx } from "./tx.js";
import { normalizeEmail, parse, titleSchema } from "./validation.js";

export interface OrganizationSettings {
  /** Organizations one user may create per UTC day (ORG_CREATE_LIMIT_PER_DAY); 0: no limit. */
  dailyLimit: number;
}

async function insertOrganization(tx: Tx, ownerId: string, title: string): Promise<Organization> {
  return tx.organization.create({
    data: { title, members: { create: { userId: ownerId, role: "ADMIN" } } },
  });
}

/**
 * Any signed-in user may create an organization; they become its ADMIN. At most
 * `settings.dailyLimit` a day (UTC) per user: the next one is RATE_LIMITED and writes nothing.
 * Without settings (seeds of tests and tools), no limit.
 */
export async function createOrganization(
  db: PrismaClient,
  ownerId: string,
  rawTitle: string,
  settings: OrganizationSettings = { dailyLimit: 0 },
): Promise<Organization> {
  const title = parse(titleSchema, rawTitle, ["input", "title"]);
  return inTransaction(db, async (tx) => {
    if (settings.dailyLimit > 0) await consumeCreationQuota(tx, ownerId, settings.dailyLimit, new Date());
    return insertOrganization(tx, ownerId, title);
  });
}

/**
 * Counts one organization against the user's daily quota, or fails the call. One conditional upsert:
 * concurrent calls of one user queue on the counter's row, and each sees the count the previous one
 * committed, so no more than `limit` pass however many run at once; the count is in the creating
 * transaction, so a call that fails later uses none.
 */
async function consumeCreationQuota(tx: Tx, userId: string, limit: number, now: Date): Promise<void> {
  const day = now.toISOString().slice(0, 10);
  const rows = await tx.$queryRaw<{ count: number }[]>`
    INSERT INTO "OrgCreationQuota" ("userId", "day", "count")
    VALUES (${userId}, ${day}::date, 1)
    ON CONFLICT ("userId", "day") DO UPDATE
      SET "count" = "OrgCreationQuota"."count" + 1
      WHERE "OrgCreationQuota"."count" < ${limit}::int
    RETURNING "count"`;
  if (rows.length === 0) {
    throw new RateLimitedError(
      `You may create ${limit} organizations a day; you have reached that limit. Try again tomorrow (UTC).`,
    );
  }
}

/** Operator path: the owner is found by email, or created (verified: the operator vouches for it). */
export async function createOrganizationForEmail(
  db: PrismaClient,
  input: { title: string; ownerEmail: string },
): Promise<Organization & { ownerId: string }> {
  const title = parse(titleSchema, input.title, ["title"]);
  const email = normalizeEmail(input.ownerEmail);
  return inTransaction(
    db,
    async (tx) => {
      const owner = await tx.user.upsert({
        where: { email },
        create: { email, emailVerified: true },
        update: {},
        select: { id: true },
      });
      const org = await insertOrganization(tx, owner.id, title);
      return { ...org, ownerId: owner.id };
    },
    { retries: 2 },
  );
}
