import type { Organization, PrismaClient } from "../generated/prisma/client.js";
import { inTransaction, type Tx } from "./tx.js";
import { normalizeEmail, parse, titleSchema } from "./validation.js";

async function insertOrganization(tx: Tx, ownerId: string, title: string): Promise<Organization> {
  return tx.organization.create({
    data: { title, members: { create: { userId: ownerId, role: "ADMIN" } } },
  });
}

/** Any signed-in user may create an organization; they become its ADMIN. */
export async function createOrganization(db: PrismaClient, ownerId: string, rawTitle: string): Promise<Organization> {
  const title = parse(titleSchema, rawTitle, ["input", "title"]);
  return inTransaction(db, (tx) => insertOrganization(tx, ownerId, title));
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
