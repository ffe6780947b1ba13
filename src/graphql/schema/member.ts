import type { ObjectFieldsShape } from "@pothos/core";
import { joinOrganizationByDomain } from "../../domain/domains.js";
import {
  AlreadyMemberError,
  DomainNotAllowedError,
  InviteAlreadyAcceptedError,
  InviteEmailMismatchError,
  InviteExpiredError,
  InviteRevokedError,
  InviteUsedUpError,
  LastAdminError,
  NotFoundError,
} from "../../domain/errors.js";
import { leaveOrganization, removeMember, updateMemberRole } from "../../domain/members.js";
import { joinWithInvite } from "../../domain/membership.js";
import { MemberRole } from "../../domain/roles.js";
import type { Member } from "../../generated/prisma/client.js";
import { builder, type Context } from "../builder.js";
import { requireActor, requireViewer } from "./context-helpers.js";
import { type BuilderTypes, resultMutation } from "./errors.js";

export const MemberRoleEnum = builder.enumType(MemberRole, {
  name: "MemberRole",
  description: "Roles in an organization, highest first. GUEST: access to single spaces or collections only.",
});

export const MemberRef = builder.prismaObject("Member", {
  fields: (t) => ({
    id: t.id({
      description: "`<organization id>:<user id>`: a stable key for client caches (Apollo, urql Graphcache).",
      select: { organizationId: true, userId: true },
      resolve: (member) => `${member.organizationId}:${member.userId}`,
    }),
    user: t.relation("user"),
    organization: t.relation("organization"),
    role: t.expose("role", { type: MemberRoleEnum }),
    sso: t.exposeBoolean("sso"),
    joinedAt: t.expose("joinedAt", { type: "DateTime" }),
  }),
});

export const MemberOrderEnum = builder.enumType("MemberOrder", {
  description: "The order of Organization.members: by when they joined, or by name (members without a name last).",
  values: ["JOINED_AT_DESC", "JOINED_AT_ASC", "NAME_ASC", "NAME_DESC"] as const,
});

/** The success of a mutation that answers with a member: `{ member: Member! }`. */
const memberPayload: ObjectFieldsShape<BuilderTypes, { member: Member }> = (t) => ({
  member: t.field({ type: MemberRef, resolve: (r) => r.member }),
});

/** A change of the organization's members: the request's cached access to it is dropped after, whatever the outcome. */
async function changingMembers<T>(ctx: Context, organizationId: string, change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } finally {
    ctx.access.forget(organizationId);
  }
}

resultMutation("joinOrganizationWithInvite", {
  description: "inviteId: an email invite's id or an invite link's id. Any signed-in user.",
  errors: [
    NotFoundError,
    AlreadyMemberError,
    InviteExpiredError,
    InviteRevokedError,
    InviteUsedUpError,
    InviteAlreadyAcceptedError,
    InviteEmailMismatchError,
  ],
  args: builder.args((t) => ({ organizationId: t.id({ required: true }), inviteId: t.id({ required: true }) })),
  success: memberPayload,
  resolve: async (args, ctx) => ({ member: await joinWithInvite(ctx.db, requireViewer(ctx), args) }),
});

resultMutation("joinOrganizationByDomain", {
  description:
    "Any signed-in user whose verified email's domain is one of the organization's allowedDomains (exactly; no subdomains) joins as READ. DOMAIN_NOT_ALLOWED otherwise, also for an organization that does not exist.",
  errors: [AlreadyMemberError, DomainNotAllowedError],
  args: builder.args((t) => ({ organizationId: t.id({ required: true }) })),
  success: memberPayload,
  resolve: async (args, ctx) => ({ member: await joinOrganizationByDomain(ctx.db, requireViewer(ctx), args) }),
});

resultMutation("updateMemberRole", {
  description:
    "Admins. Sets a member's role (a guest's is GUEST). NOT_FOUND if the user is not a member; LAST_ADMIN (nothing changes) if it would demote the organization's only admin.",
  errors: [NotFoundError, LastAdminError],
  args: builder.args((t) => ({
    organizationId: t.id({ required: true }),
    userId: t.id({ required: true }),
    role: t.field({ type: MemberRoleEnum, required: true }),
  })),
  success: memberPayload,
  resolve: (args, ctx) =>
    changingMembers(ctx, args.organizationId, async () => ({
      member: await updateMemberRole(ctx.db, requireActor(ctx), args),
    })),
});

resultMutation("removeMember", {
  description:
    "Admins remove a member; any member may remove themself (that is leaving). NOT_FOUND if the user is not a member; LAST_ADMIN (nothing changes) for the organization's only admin.",
  errors: [NotFoundError, LastAdminError],
  args: builder.args((t) => ({ organizationId: t.id({ required: true }), userId: t.id({ required: true }) })),
  resolve: (args, ctx) =>
    changingMembers(ctx, args.organizationId, () => removeMember(ctx.db, requireActor(ctx), args)),
  success: (t) => ({ userId: t.exposeID("userId") }),
});

resultMutation("leaveOrganization", {
  description: "Any member leaves the organization. LAST_ADMIN (nothing changes) for its only admin.",
  errors: [NotFoundError, LastAdminError],
  args: builder.args((t) => ({ organizationId: t.id({ required: true }) })),
  resolve: (args, ctx) => {
    const viewer = requireViewer(ctx);
    return changingMembers(ctx, args.organizationId, () =>
      leaveOrganization(ctx.db, { ...requireActor(ctx), userId: viewer.id }, args),
    );
  },
  success: (t) => ({ organizationId: t.exposeID("organizationId") }),
});
