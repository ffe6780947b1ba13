import {
  AlreadyMemberError,
  type DomainError,
  DomainNotAllowedError,
  ERROR_CODES,
  InviteAlreadyAcceptedError,
  InviteEmailMismatchError,
  InviteExpiredError,
  InviteRevokedError,
  InviteUsedUpError,
  LastAdminError,
  NotFoundError,
  RateLimitedError,
  ValidationError,
  type ValidationIssue,
} from "../../domain/errors.js";
import { builder } from "../builder.js";

export const ErrorCodeEnum = builder.enumType("ErrorCode", { values: ERROR_CODES });

export const ErrorInterface = builder.interfaceRef<DomainError>("Error").implement({
  description: "An expected failure of a mutation, returned as data. `code` is stable; `message` is for humans.",
  fields: (t) => ({
    message: t.exposeString("message"),
    code: t.field({ type: ErrorCodeEnum, resolve: (e) => e.code }),
  }),
});

const ValidationIssueRef = builder.objectRef<ValidationIssue>("ValidationIssue").implement({
  fields: (t) => ({
    path: t.exposeStringList("path", { description: 'Where in the input, e.g. ["input", "emails", "2"]' }),
    message: t.exposeString("message"),
  }),
});

builder.objectType(ValidationError, {
  name: "ValidationError",
  interfaces: [ErrorInterface] as const,
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({
    issues: t.field({ type: [ValidationIssueRef], resolve: (e) => e.issues }),
  }),
});

for (const [ErrorClass, name] of [
  [NotFoundError, "NotFoundError"],
  [AlreadyMemberError, "AlreadyMemberError"],
  [InviteExpiredError, "InviteExpiredError"],
  [InviteRevokedError, "InviteRevokedError"],
  [InviteUsedUpError, "InviteUsedUpError"],
  [InviteAlreadyAcceptedError, "InviteAlreadyAcceptedError"],
  [InviteEmailMismatchError, "InviteEmailMismatchError"],
  [DomainNotAllowedError, "DomainNotAllowedError"],
  [RateLimitedError, "RateLimitedError"],
  [LastAdminError, "LastAdminError"],
] as const) {
  builder.objectType(ErrorClass as typeof NotFoundError, {
    name,
    interfaces: [ErrorInterface],
    isTypeOf: (value) => value instanceof ErrorClass,
    fields: () => ({}),
  });
}

type ErrorClass = new (...args: never[]) => DomainError;

/**
 * Errors-plugin options for a mutation named `name`: its `<Name>Result` union holds the success type
 * (directly), ValidationError and the given error types.
 */
export function mutationErrors(name: string, types: ErrorClass[]) {
  return {
    types: [ValidationError, ...types] as ErrorClass[],
    directResult: true as const,
    union: { name: `${name}Result` },
  };
}
