import { GraphQLError } from "graphql";

/**
 * Top-level GraphQL errors that clients tell apart by extensions.code. (Expected outcomes of
 * mutations are not errors but members of their result unions: see src/schema/errors.ts.)
 */
export function unauthenticated(message = "Sign in to do this", options: { httpStatus?: 401 } = {}): GraphQLError {
  return new GraphQLError(message, {
    extensions: {
      code: "UNAUTHENTICATED",
      ...(options.httpStatus
        ? { http: { status: options.httpStatus, headers: { "WWW-Authenticate": "Bearer" } } }
        : {}),
    },
  });
}

export function forbidden(message = "You are not allowed to do this"): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "FORBIDDEN" } });
}

/** The caller holds MAX_SUBSCRIPTIONS_PER_CALLER open subscriptions already (src/subscription-limit.ts). */
export function tooManySubscriptions(limit: number): GraphQLError {
  return new GraphQLError(
    `Too many subscriptions: at most ${limit} open at once for one caller. Close one to open another.`,
    { extensions: { code: "TOO_MANY_SUBSCRIPTIONS", http: { status: 429 } } },
  );
}

/** The caller's mistake; `at` is an error it replaces, whose path and locations it keeps. */
export function badUserInput(message: string, at?: GraphQLError): GraphQLError {
  return new GraphQLError(message, {
    nodes: at?.nodes,
    source: at?.source,
    positions: at?.positions,
    path: at?.path,
    extensions: { code: "BAD_USER_INPUT" },
  });
}

/**
 * The database failed (see databaseFailure in src/domain/tx.ts): SERVICE_UNAVAILABLE or TIMEOUT,
 * with a message that names no SQL and no internals. `at` is the error it replaces, whose path
 * and locations it keeps.
 */
export function databaseFailureError(failure: "UNAVAILABLE" | "TIMEOUT", at?: GraphQLError): GraphQLError {
  const [code, message] =
    failure === "UNAVAILABLE"
      ? ["SERVICE_UNAVAILABLE", "The database is unavailable; try again shortly"]
      : ["TIMEOUT", "The database did not answer in time; try again shortly"];
  return new GraphQLError(message, {
    nodes: at?.nodes,
    source: at?.source,
    positions: at?.positions,
    path: at?.path,
    extensions: { code },
  });
}

/** The codes of databaseFailureError: a response made only of these is a 503. */
export const DATABASE_FAILURE_CODES: ReadonlySet<unknown> = new Set(["SERVICE_UNAVAILABLE", "TIMEOUT"]);
