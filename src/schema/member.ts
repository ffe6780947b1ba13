import { builder } from "../builder.js";
import { joinOrganizationByDomain } from "../domain/domains.js";
import {
  AlreadyMemberError,
  DomainNotAllowedError,
  InviteAlreadyAcceptedError,
  InviteEmailMismatchError,
  InviteExpiredError,
  InviteRevokedError,
  InviteUsedUpError,
  NotFoundError,
} from "../domain/errors.js";
import { joinWithInvite } from "../domain/membership.js";
import { MemberRole } from "../domain/roles.js";
import type { Member } from "../generated/prisma/client.js";
import { requireViewer } from "./context-helpers.js";
import { mutationErrors } from "./errors.js";

export const MemberRoleEnum = builder.enumType(MemberRole, {
  name: "MemberRole",
  description: "Roles in an organization, highest first. GUEST: access to single spaces or collections only.",
});

export const MemberRef = builder.prismaObject("Member", {
  fields: (t) => ({
    user: t.relation("user"),
    organization: t.relation("organization"),
    role: t.expose("role", { type: MemberRoleEnum }),
    sso: t.exposeBoolean("sso"),
    joinedAt: t.expose("joinedAt", { type: "DateTime" }),
  }),
});

const JoinOrganizationWithInviteSuccess = builder
  .objectRef<{ member: Member }>("JoinOrganizationWithInviteSuccess")
  .implement({ fields: (t) => ({ member: t.field({ type: MemberRef, resolve: (r) => r.member }) }) });

builder.mutationField("joinOrganizationWithInvite", (t) =>
  t.field({
    type: JoinOrganizationWithInviteSuccess,
    description: "inviteId: an email invite's id or an invite link's id. Any signed-in user.",
    errors: mutationErrors("JoinOrganizationWithInvite", [
      NotFoundError,
      AlreadyMemberError,
      InviteExpiredError,
      InviteRevokedError,
      InviteUsedUpError,
      InviteAlreadyAcceptedError,
      InviteEmailMismatchError,
    ]),
    args: { organizationId: t.arg.id({ required: true }), inviteId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => ({ member: await joinWithInvite(ctx.db, requireViewer(ctx), args) }),
  }),
);

const JoinOrganizationByDomainSuccess = builder
  .objectRef<{ member: Member }>("JoinOrganizationByDomainSuccess")
  .implement({ fields: (t) => ({ member: t.field({ type: MemberRef, resolve: (r) => r.member }) }) });

builder.mutationField("joinOrganizationByDomain", (t) =>
  t.field({
    type: JoinOrganizationByDomainSuccess,
    description:
      "Any signed-in user whose verified email's domain is one of the organization's allowedDomains (exactly; no subdomains) joins as READ. DOMAIN_NOT_ALLOWED otherwise, also for an organization that does not exist.",
    errors: mutationErrors("JoinOrganizationByDomain", [AlreadyMemberError, DomainNotAllowedError]),
    args: { organizationId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => ({
      member: await joinOrganizationByDomain(ctx.db, requireViewer(ctx), args),
    }),
  }),
);
