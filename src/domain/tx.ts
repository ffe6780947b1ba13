import { Prisma, type PrismaClient } from "../generated/prisma/client.js";
import { afterCommit } from "./outbox.js";

export type Tx = Prisma.TransactionClient;

/** The code of a Prisma error (P2002 = unique violation, ...), null for other errors. */
export function prismaErrorCode(error: unknown): string | null {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : null;
  }
  return null;
}

/**
 * A unique-constraint violation (P2002) or a serialization failure (P2034); from a raw statement
 * ($queryRaw: P2010), PostgreSQL's own codes for the same (23505, 40001) in the adapter's error.
 */
export function isConflict(error: unknown): boolean {
  const code = prismaErrorCode(error);
  if (code === "P2002" || code === "P2034") return true;
  if (code !== "P2010") return false;
  for (const e of errorChain(error)) if (e.originalCode === "23505" || e.originalCode === "40001") return true;
  return false;
}

/**
 * What a failure of the database itself means to a caller: `UNAVAILABLE` (it cannot be reached, or
 * it closed the connection: restart, crash, failover, too many connections) or `TIMEOUT` (no
 * pooled connection within DB_CONNECT_TIMEOUT, a statement past DB_STATEMENT_TIMEOUT, a transaction
 * past its time). Null for every other error. Found by running Prisma 7 + @prisma/adapter-pg
 * against a stopped, restarting, crashing, silent and saturated PostgreSQL:
 * - a PrismaClientKnownRequestError (P1001, P2010, P2037, P2039, ...) whose
 *   meta.driverAdapterError.cause holds the adapter's `kind` and PostgreSQL's `originalCode`;
 * - plain Errors of pg and pg-pool (no code) that the adapter passes through unchanged.
 */
export type DatabaseFailure = "UNAVAILABLE" | "TIMEOUT";

const FAILURE_BY_CODE: Record<string, DatabaseFailure> = {
  // Prisma: can't reach the server, server reached but timed out, server closed the connection,
  // pool timeout (the Rust engine's), and P2028 below for transactions.
  P1001: "UNAVAILABLE",
  P1002: "TIMEOUT",
  P1017: "UNAVAILABLE",
  P2024: "TIMEOUT",
  // PostgreSQL: admin_shutdown (stop, restart, pg_terminate_backend), crash_shutdown,
  // cannot_connect_now (starting up, shutting down, in recovery), too_many_connections;
  // query_canceled (statement_timeout), idle_in_transaction_session_timeout. Class 08 below.
  "57P01": "UNAVAILABLE",
  "57P02": "UNAVAILABLE",
  "57P03": "UNAVAILABLE",
  "53300": "UNAVAILABLE",
  "57014": "TIMEOUT",
  "25P03": "TIMEOUT",
  // Node's socket errors (the adapter maps some to the kinds below, and passes others through).
  ECONNREFUSED: "UNAVAILABLE",
  ECONNRESET: "UNAVAILABLE",
  EPIPE: "UNAVAILABLE",
  EHOSTUNREACH: "UNAVAILABLE",
  ENETUNREACH: "UNAVAILABLE",
  ETIMEDOUT: "TIMEOUT",
  // @prisma/adapter-pg's kinds.
  DatabaseNotReachable: "UNAVAILABLE",
  ConnectionClosed: "UNAVAILABLE",
  TooManyConnections: "UNAVAILABLE",
  SocketTimeout: "TIMEOUT",
};

/** pg and pg-pool throw these as plain Errors; the adapter rethrows them as they are. */
const FAILURE_BY_MESSAGE: Record<string, DatabaseFailure> = {
  "timeout exceeded when trying to connect": "TIMEOUT", // pg-pool: no free connection in time
  "Connection terminated due to connection timeout": "TIMEOUT", // pg: the server did not answer the connect
  "Connection terminated unexpectedly": "UNAVAILABLE", // pg: the server closed the socket (crash, immediate stop)
  "Connection terminated": "UNAVAILABLE",
  "Client has encountered a connection error and is not queryable": "UNAVAILABLE",
};

type ErrorLink = {
  code?: unknown;
  originalCode?: unknown;
  kind?: unknown;
  message?: unknown;
  originalError?: unknown;
  meta?: { driverAdapterError?: unknown };
  cause?: unknown;
};

/** The error, then what it wraps: GraphQLError.originalError, Prisma's meta.driverAdapterError, the adapter's cause. */
function* errorChain(error: unknown): Generator<ErrorLink> {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    const e = current as ErrorLink;
    yield e;
    current = e.originalError ?? e.meta?.driverAdapterError ?? e.cause;
  }
}

export function databaseFailure(error: unknown): DatabaseFailure | null {
  for (const e of errorChain(error)) {
    for (const code of [e.code, e.originalCode, e.kind]) {
      if (typeof code !== "string") continue;
      const failure = FAILURE_BY_CODE[code] ?? (/^08[0-9A-Z]{3}$/.test(code) ? "UNAVAILABLE" : null);
      if (failure) return failure;
      if (code === "P2028" && typeof e.message === "string" && /in the given time|expired transaction/.test(e.message))
        return "TIMEOUT";
    }
    if (typeof e.message === "string" && Object.hasOwn(FAILURE_BY_MESSAGE, e.message))
      return FAILURE_BY_MESSAGE[e.message] as DatabaseFailure;
  }
  return null;
}

/**
 * PostgreSQL refused a text argument it cannot hold: NUL (U+0000) or malformed Unicode such as a
 * lone surrogate (22021 character_not_in_repertoire, 22P05 untranslatable_character). Mutations
 * validate their input first (storableText); this catches the same mistake on any other path
 * (an id in a query, an `_entities` representation): the caller's bad input, not a crash.
 */
export function isUnstorableText(error: unknown): boolean {
  for (const e of errorChain(error)) {
    for (const code of [e.code, e.originalCode]) if (code === "22021" || code === "22P05") return true;
  }
  return false;
}

/**
 * Row locks (SELECT ... FOR UPDATE) taken before a read-check-write, so that a concurrent join,
 * revoke or refresh of the same invite or link waits for this transaction instead of acting on
 * what it read before. Returns the ids that exist.
 */
export async function lockInvites(tx: Tx, organizationId: string, where: { ids: string[] }) {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    SELECT "id" FROM "Invite" WHERE "organizationId" = ${organizationId}
      AND "id" IN (${Prisma.join(where.ids)}) ORDER BY "id" FOR UPDATE`;
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
 * winner's row on the next attempt. Everything `fn` wrote is rolled back when it throws; after a
 * commit that recorded audit events, the outbox relay is woken (src/domain/outbox.ts).
 */
export async function inTransaction<T>(
  db: PrismaClient,
  fn: (tx: Tx) => Promise<T>,
  options: { retries?: number } = {},
): Promise<T> {
  const retries = options.retries ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      let used: Tx | undefined;
      const result = await db.$transaction(
        (tx) => {
          used = tx;
          return fn(tx);
        },
        { maxWait: 10_000, timeout: 20_000 },
      );
      // Committed: wake the outbox relay if this transaction recorded events.
      if (used) afterCommit(db, used);
      return result;
    } catch (error) {
      if (attempt < retries && isConflict(error)) continue;
      throw error;
    }
  }
}
