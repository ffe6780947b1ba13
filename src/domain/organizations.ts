import type { MemberRole, Organization, PrismaClient } from "../generated/prisma/client.js";
import { inTransaction, type Tx } from "./tx.js";
import { normalizeEmail, parse, titleSchema } from "./validation.js";

/**
 * The caller's role in each organization, looked up at most once per organization and request.
 * "Not a member" is not kept: a join earlier in the same request (an aliased mutation) may change it.
 */
export function createRoleLookup(db: PrismaClient, userId: string | null) {
  const cache = new Map<string, Promise<MemberRole | null>>();
  return (organizationId: string): Promise<MemberRole | null> => {
    if (!userId) return Promise.resolve(null);
    let pending = cache.get(organizationId);
    if (!pending) {
      pending = db.member
        .findUnique({
          where: { organizationId_userId: { organizationId, userId } },
          select: { role: true },
        })
        .then((m) => {
          if (!m) cache.delete(organizationId);
          return m?.role ?? null;
        });
      cache.set(organizationId, pending);
    }
    return pending;
  };
}

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
