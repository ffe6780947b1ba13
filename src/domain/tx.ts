import { Prisma, type PrismaClient } from "../generated/prisma/client.js";

export type Tx = Prisma.TransactionClient;

/** The code of a Prisma error (P2002 = unique violation, ...), null for other errors. */
export function prismaErrorCode(error: unknown): string | null {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : null;
  }
  return null;
}

/** A unique-constraint violation (P2002) or a serialization failure (P2034). */
export function isConflict(error: unknown): boolean {
  const code = prismaErrorCode(error);
  return code === "P2002" || code === "P2034";
}

/**
 * Row locks (SELECT ... FOR UPDATE) taken before a read-check-write, so that a concurrent join,
 * revoke or refresh of the same invite or link waits for this transaction instead of acting on
 * what it read before. Returns the ids that exist.
 */
export async function lockInvites(tx: Tx, organizationId: string, where: { ids?: string[]; pendingEmails?: string[] }) {
  const rows = where.ids
    ? await tx.$queryRaw<{ id: string }[]>`
        SELECT "id" FROM "Invite" WHERE "organizationId" = ${organizationId}
          AND "id" IN (${Prisma.join(where.ids)}) ORDER BY "id" FOR UPDATE`
    : await tx.$queryRaw<{ id: string }[]>`
        SELECT "id" FROM "Invite" WHERE "organizationId" = ${organizationId} AND "status" = 'PENDING'
          AND "email" IN (${Prisma.join(where.pendingEmails ?? [""])}) ORDER BY "id" FOR UPDATE`;
  return rows.map((r) => r.id);
}

export async function lockLinkInvite(tx: Tx, organizationId: string, id: string): Promise<boolean> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    SELECT "id" FROM "LinkInvite" WHERE "organizationId" = ${organizationId} AND "id" = ${id} FOR UPDATE`;
  return rows.length > 0;
}

/**
 * Runs `fn` as one transaction. On a conflict with a concurrent writer (a unique violation a
 * concurrent insert caused) the whole transaction is retried from the start, so `fn` sees the
 * winner's row on the next attempt. Everything `fn` wrote is rolled back when it throws.
 */
export async function inTransaction<T>(
  db: PrismaClient,
  fn: (tx: Tx) => Promise<T>,
  options: { retries?: number } = {},
): Promise<T> {
  const retries = options.retries ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.$transaction(fn, { maxWait: 10_000, timeout: 20_000 });
    } catch (error) {
      if (attempt < retries && isConflict(error)) continue;
      throw error;
    }
  }
}
