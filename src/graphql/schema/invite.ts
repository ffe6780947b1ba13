import { InviteAlreadyAcceptedError, NotFoundError, RateLimitedError } from "../../domain/errors.js";
import { type InviteUsersResult, inviteStatus, inviteUsers, revokeInvite } from "../../domain/invites.js";
import type { Invite } from "../../generated/prisma/client.js";
import { builder, idKey } from "../builder.js";
import { organizationOf, requireActor, resolveVisibleEntity } from "./context-helpers.js";
import { mutationErrors } from "./errors.js";
import { InviteStatusEnum } from "./invite-status.js";
import { MemberRoleEnum } from "./member.js";
import { OrganizationRef } from "./organization.js";
import { UserRef } from "./user.js";

export const InviteRef = builder.prismaObject("Invite", {
  fields: (t) => ({
    id: t.exposeID("id"),
    // The organization comes from the request's loader (ctx.access), which the rules of its fields
    // have filled already: a page of 50 under Organization.invites does not join the same row 50 times.
    organization: t.field({
      type: OrganizationRef,
      resolve: (parent, _args, ctx) => organizationOf(ctx, parent.organizationId),
    }),
    email: t.exposeString("email"),
    role: t.expose("role", { type: MemberRoleEnum }),
    sso: t.exposeBoolean("sso"),
    status: t.field({ type: InviteStatusEnum, resolve: (invite, _args, ctx) => inviteStatus(invite, ctx.now) }),
    user: t.relation("user", { nullable: true }),
    invitedBy: t.relation("invitedBy", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    expiresAt: t.expose("expiresAt", { type: "DateTime" }),
    acceptedAt: t.expose("acceptedAt", { type: "DateTime", nullable: true }),
  }),
});

builder.asEntity(InviteRef, {
  key: idKey(),
  resolveReference: ({ id }, ctx) => resolveVisibleEntity(ctx, "invite", id),
});

const InviteeInput = builder.inputType("InviteeInput", {
  fields: (t) => ({
    email: t.string({ required: true }),
    role: t.field({ type: MemberRoleEnum, required: true }),
  }),
});

const InviteUsersToOrganizationInput = builder.inputType("InviteUsersToOrganizationInput", {
  description: "1 to 100 distinct emails in all (emails and invitees together).",
  fields: (t) => ({
    emails: t.stringList({ description: "Invited with the default role." }),
    invitees: t.field({ type: [InviteeInput], description: "Each with its own role." }),
    role: t.field({ type: MemberRoleEnum, defaultValue: "READ", description: "The default role." }),
    sso: t.boolean({ defaultValue: false }),
  }),
});

const InviteUsersToOrganizationSuccess = builder
  .objectRef<InviteUsersResult>("InviteUsersToOrganizationSuccess")
  .implement({
    fields: (t) => ({
      users: t.field({
        type: [UserRef],
        resolve: (r) => r.users,
        description: "The user of every invite created or refreshed.",
      }),
      invited: t.exposeInt("invited", { description: "Invites created plus invites refreshed." }),
      failedSSOEmails: t.exposeStringList("failedSSOEmails", {
        description: "Invited without SSO: SSO members of another organization.",
      }),
      invites: t.field({ type: [InviteRef], resolve: (r) => r.invites }),
      alreadyMembers: t.exposeStringList("alreadyMembers"),
    }),
  });

builder.mutationField("inviteUsersToOrganization", (t) =>
  t.field({
    type: InviteUsersToOrganizationSuccess,
    errors: mutationErrors("InviteUsersToOrganization", [RateLimitedError]),
    args: {
      organizationId: t.arg.id({ required: true }),
      input: t.arg({ type: InviteUsersToOrganizationInput, required: true }),
    },
    resolve: (_root, args, ctx) =>
      inviteUsers(
        ctx.db,
        { organizationId: args.organizationId, actor: requireActor(ctx), input: args.input },
        { ttlMs: ctx.config.inviteTtlMs, dailyLimit: ctx.config.inviteRateLimit },
      ),
  }),
);

const RevokeInviteSuccess = builder.objectRef<{ invite: Invite }>("RevokeInviteSuccess").implement({
  fields: (t) => ({ invite: t.field({ type: InviteRef, resolve: (r) => r.invite }) }),
});

builder.mutationField("revokeInvite", (t) =>
  t.field({
    type: RevokeInviteSuccess,
    errors: mutationErrors("RevokeInvite", [NotFoundError, InviteAlreadyAcceptedError]),
    args: { organizationId: t.arg.id({ required: true }), inviteId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => ({
      invite: await revokeInvite(ctx.db, { ...args, actor: requireActor(ctx) }),
    }),
  }),
);
