import { PothosValidationError } from "@pothos/core";
import { GraphQLError, Kind } from "graphql";
import { maskError } from "graphql-yoga";
import { ForbiddenError } from "../domain/errors.js";
import { databaseFailure, isUnstorableText } from "../domain/tx.js";

/**
 * Top-level GraphQL errors that clients tell apart by extensions.code. (Expected outcomes of
 * mutations are not errors but members of their result unions: see src/graphql/schema/errors.ts.)
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

/**
 * The caller holds MAX_SUBSCRIPTIONS_PER_CALLER open subscriptions already
 * (src/http/plugins/subscription-limit.ts).
 */
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

/**
 * Yoga's masking (crashes become "Unexpected error."), plus a code for Pothos' own argument checks
 * (negative `first`, a malformed cursor) and for variables that do not fit their type (graphql-js
 * gives those no code): both are the client's mistake, BAD_USER_INPUT. A failing database is not a
 * crash: SERVICE_UNAVAILABLE or TIMEOUT (src/domain/tx.ts databaseFailure).
 */
export function maskWithInputErrors(error: unknown, message: string): Error {
  const failure = databaseFailure(error);
  if (failure) return databaseFailureError(failure, error instanceof GraphQLError ? error : undefined);
  if (isUnstorableText(error)) {
    return badUserInput(
      "An argument holds text that cannot be stored or looked up (NUL or malformed Unicode)",
      error instanceof GraphQLError ? error : undefined,
    );
  }
  if (error instanceof GraphQLError) {
    if (error.nodes?.[0]?.kind === Kind.VARIABLE_DEFINITION && !error.extensions.code) {
      markBadInput(error);
      return error;
    }
    if (error.originalError instanceof ForbiddenError) {
      // A denial found inside a mutation (src/domain/errors.ts): answered as the rules' denials are.
      (error.extensions as Record<string, unknown>).code = "FORBIDDEN";
      return error;
    }
    const cause = error instanceof PothosValidationError ? error : error.originalError;
    if (cause instanceof PothosValidationError && !error.extensions.code) {
      // The same error object with a code: Yoga logs every error that masking replaces, and a
      // client's bad argument is not worth an error-level log line.
      (error.extensions as Record<string, unknown>).code = "BAD_USER_INPUT";
      return error;
    }
  }
  // Never the development variant (which adds the original message and stack), whatever NODE_ENV says.
  return maskError(error, message, false);
}

/** The client's mistake: BAD_USER_INPUT, unless the error carries a code already. */
export function markBadInput(error: GraphQLError): void {
  (error.extensions as Record<string, unknown>).code ??= "BAD_USER_INPUT";
}
