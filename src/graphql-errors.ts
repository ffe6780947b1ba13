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

export function badUserInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "BAD_USER_INPUT" } });
}
