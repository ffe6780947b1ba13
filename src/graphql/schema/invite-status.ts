import { builder } from "../builder.js";

/** An invite's status as clients see it (src/domain/invites.ts inviteStatus). */
export const InviteStatusEnum = builder.enumType("InviteStatus", {
  values: ["PENDING", "ACCEPTED", "REVOKED", "EXPIRED"] as const,
  description: "EXPIRED: a PENDING invite past its expiresAt.",
});
