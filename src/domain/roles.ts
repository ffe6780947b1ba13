import { z } from "zod";
import { MemberRole } from "../generated/prisma/enums.js";

/** Highest first, as the contract declares them. */
export const ROLES_HIGHEST_FIRST: readonly MemberRole[] = [
  MemberRole.ADMIN,
  MemberRole.CREATE,
  MemberRole.EDIT,
  MemberRole.REVIEW,
  MemberRole.COMMENT,
  MemberRole.READ,
  MemberRole.GUEST,
];

/** A role in input (the GraphQL enum already restricts it; the CLI and other callers may not). */
export const roleSchema = z.enum(ROLES_HIGHEST_FIRST as [MemberRole, ...MemberRole[]]);

export function roleRank(role: MemberRole): number {
  return ROLES_HIGHEST_FIRST.length - ROLES_HIGHEST_FIRST.indexOf(role);
}

/** True when `role` grants at least what `required` grants. */
export function hasAtLeast(role: MemberRole | null | undefined, required: MemberRole): boolean {
  return role != null && roleRank(role) >= roleRank(required);
}

export { MemberRole };
