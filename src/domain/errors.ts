/**
 * The one error model. Expected outcomes of the domain are DomainErrors: mutations return them as
 * members of their result unions (see src/graphql/schema/errors.ts); anything else is unexpected and masked.
 */
export const ERROR_CODES = [
  "VALIDATION",
  "NOT_FOUND",
  "ALREADY_MEMBER",
  "INVITE_EXPIRED",
  "INVITE_REVOKED",
  "INVITE_USED_UP",
  "INVITE_ALREADY_ACCEPTED",
  "INVITE_EMAIL_MISMATCH",
  "DOMAIN_NOT_ALLOWED",
  "RATE_LIMITED",
  "LAST_ADMIN",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
}

export interface ValidationIssue {
  path: string[];
  message: string;
}

export class ValidationError extends DomainError {
  readonly code = "VALIDATION";
  constructor(
    message: string,
    readonly issues: ValidationIssue[] = [{ path: [], message }],
  ) {
    super(message);
  }
}
export class NotFoundError extends DomainError {
  readonly code = "NOT_FOUND";
}
export class AlreadyMemberError extends DomainError {
  readonly code = "ALREADY_MEMBER";
  constructor(message = "You are already a member of this organization") {
    super(message);
  }
}
export class InviteExpiredError extends DomainError {
  readonly code = "INVITE_EXPIRED";
  constructor(message = "This invite has expired") {
    super(message);
  }
}
export class InviteRevokedError extends DomainError {
  readonly code = "INVITE_REVOKED";
  constructor(message = "This invite has been revoked") {
    super(message);
  }
}
export class InviteUsedUpError extends DomainError {
  readonly code = "INVITE_USED_UP";
  constructor(message = "This invite link has reached its maximum number of uses") {
    super(message);
  }
}
export class InviteAlreadyAcceptedError extends DomainError {
  readonly code = "INVITE_ALREADY_ACCEPTED";
  constructor(message = "This invite has already been accepted") {
    super(message);
  }
}
export class InviteEmailMismatchError extends DomainError {
  readonly code = "INVITE_EMAIL_MISMATCH";
}
export class DomainNotAllowedError extends DomainError {
  readonly code = "DOMAIN_NOT_ALLOWED";
}
export class RateLimitedError extends DomainError {
  readonly code = "RATE_LIMITED";
}
/** The change would leave the organization without an ADMIN: nothing changed. */
export class LastAdminError extends DomainError {
  readonly code = "LAST_ADMIN";
  constructor(message = "An organization must keep at least one admin: make another member ADMIN first") {
    super(message);
  }
}

/**
 * Not an outcome but a denial: the caller may not do this (any more). The shield's rules decide
 * before a mutation runs; a domain function that finds, under its own locks, that the caller has
 * lost the right meanwhile throws this, answered as the rules' denials are (a top-level FORBIDDEN
 * error, src/graphql/errors.ts).
 */
export class ForbiddenError extends Error {}
