/**
 * The one error model. Expected outcomes of the domain are DomainErrors: mutations return them as
 * members of their result unions (see src/graphql/schema/errors.ts); anything else is unexpected and masked.
 */

/**
 * Each expected outcome's code (in ErrorCode's order) and the message it carries when the domain
 * gives none (`null`: the domain always says which thing was wrong).
 */
const DEFAULT_MESSAGES = {
  VALIDATION: null,
  NOT_FOUND: null,
  ALREADY_MEMBER: "You are already a member of this organization",
  INVITE_EXPIRED: "This invite has expired",
  INVITE_REVOKED: "This invite has been revoked",
  INVITE_USED_UP: "This invite link has reached its maximum number of uses",
  INVITE_ALREADY_ACCEPTED: "This invite has already been accepted",
  INVITE_EMAIL_MISMATCH: null,
  DOMAIN_NOT_ALLOWED: null,
  RATE_LIMITED: null,
  LAST_ADMIN: "An organization must keep at least one admin: make another member ADMIN first",
} as const;
export type ErrorCode = keyof typeof DEFAULT_MESSAGES;
export const ERROR_CODES = Object.keys(DEFAULT_MESSAGES) as ErrorCode[];

export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
}

/** The DomainError of one code: `new` with a message, or with none for the code's default. */
function outcome<C extends ErrorCode>(code: C) {
  return class extends DomainError {
    readonly code: C = code;
    constructor(message: string | undefined = DEFAULT_MESSAGES[code] ?? undefined) {
      super(message);
    }
  };
}

export interface ValidationIssue {
  path: string[];
  message: string;
}

export class ValidationError extends outcome("VALIDATION") {
  constructor(
    message: string,
    readonly issues: ValidationIssue[] = [{ path: [], message }],
  ) {
    super(message);
  }
}
export class NotFoundError extends outcome("NOT_FOUND") {}
export class AlreadyMemberError extends outcome("ALREADY_MEMBER") {}
export class InviteExpiredError extends outcome("INVITE_EXPIRED") {}
export class InviteRevokedError extends outcome("INVITE_REVOKED") {}
export class InviteUsedUpError extends outcome("INVITE_USED_UP") {}
export class InviteAlreadyAcceptedError extends outcome("INVITE_ALREADY_ACCEPTED") {}
export class InviteEmailMismatchError extends outcome("INVITE_EMAIL_MISMATCH") {}
export class DomainNotAllowedError extends outcome("DOMAIN_NOT_ALLOWED") {}
export class RateLimitedError extends outcome("RATE_LIMITED") {}
/** The change would leave the organization without an ADMIN: nothing changed. */
export class LastAdminError extends outcome("LAST_ADMIN") {}

/**
 * Not an outcome but a denial: the caller may not do this (any more). The shield's rules decide
 * before a mutation runs; a domain function that finds, under its own locks, that the caller has
 * lost the right meanwhile throws this, answered as the rules' denials are (a top-level FORBIDDEN
 * error, src/graphql/errors.ts).
 */
export class ForbiddenError extends Error {}
