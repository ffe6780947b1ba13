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
import { builder } from "../builder.js";
import { requireActor, requireViewer } from "./context-helpers.js";
import { mutationErrors } from "./errors.js";

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

const UpdateMemberRoleSuccess = builder
  .objectRef<{ member: Member }>("UpdateMemberRoleSuccess")
  .implement({ fields: (t) => ({ member: t.field({ type: MemberRef, resolve: (r) => r.member }) }) });

builder.mutationField("updateMemberRole", (t) =>
  t.field({
    type: UpdateMemberRoleSuccess,
    description:
      "Admins. Sets a member's role (a guest's is GUEST). NOT_FOUND if the user is not a member; LAST_ADMIN (nothing changes) if it would demote the organization's only admin.",
    errors: mutationErrors("UpdateMemberRole", [NotFoundError, LastAdminError]),
    args: {
      organizationId: t.arg.id({ required: true }),
      userId: t.arg.id({ required: true }),
      role: t.arg({ type: MemberRoleEnum, required: true }),
    },
    resolve: async (_root, args, ctx) => {
      try {
        return { member: await updateMemberRole(ctx.db, requireActor(ctx), args) };
      } finally {
        ctx.access.forget(args.organizationId);
      }
    },
  }),
);

const RemoveMemberSuccess = builder
  .objectRef<{ userId: string }>("RemoveMemberSuccess")
  .implement({ fields: (t) => ({ userId: t.exposeID("userId") }) });

builder.mutationField("removeMember", (t) =>
  t.field({
    type: RemoveMemberSuccess,
    description:
      "Admins remove a member; any member may remove themself (that is leaving). NOT_FOUND if the user is not a member; LAST_ADMIN (nothing changes) for the organization's only admin.",
    errors: mutationErrors("RemoveMember", [NotFoundError, LastAdminError]),
    args: { organizationId: t.arg.id({ required: true }), userId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      try {
        return await removeMember(ctx.db, requireActor(ctx), args);
      } finally {
        ctx.access.forget(args.organizationId);
      }
    },
  }),
);

const LeaveOrganizationSuccess = builder
  .objectRef<{ organizationId: string }>("LeaveOrganizationSuccess")
  .implement({ fields: (t) => ({ organizationId: t.exposeID("organizationId") }) });

builder.mutationField("leaveOrganization", (t) =>
  t.field({
    type: LeaveOrganizationSuccess,
    description: "Any member leaves the organization. LAST_ADMIN (nothing changes) for its only admin.",
    errors: mutationErrors("LeaveOrganization", [NotFoundError, LastAdminError]),
    args: { organizationId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const viewer = requireViewer(ctx);
      try {
        return await leaveOrganization(ctx.db, { ...requireActor(ctx), userId: viewer.id }, args);
      } finally {
        ctx.access.forget(args.organizationId);
      }
    },
  }),
);
