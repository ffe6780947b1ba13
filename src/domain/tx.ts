import { prismaErrorCode } from "../db.js";
import type { Prisma, PrismaClient } from "../generated/prisma/client.js";

export type Tx = Prisma.TransactionClient;

/** A unique-constraint violation (P2002) or a serialization failure (P2034). */
export function isConflict(error: unknown): boolean {
  const code = prismaErrorCode(error);
  return code === "P2002" || code === "P2034";
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
