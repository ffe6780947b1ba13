import { InviteRevokedError, NotFoundError } from "../../domain/errors.js";
import {
  createLinkInvite,
  guestGrants,
  isLinkRedundant,
  type LinkInvitePreview,
  linkInviteStatus,
  linkInviteUrl,
  previewLinkInvite,
  revokeLinkInvite,
  updateLinkInvite,
} from "../../domain/link-invites.js";
import type { LinkInvite } from "../../generated/prisma/client.js";
import { builder, idKey } from "../builder.js";
import { organizationOf, requireActor, resolveVisibleEntity } from "./context-helpers.js";
import { mutationErrors } from "./errors.js";
import { MemberRoleEnum } from "./member.js";
import { OrganizationRef } from "./organization.js";

export const LinkInviteStatusEnum = builder.enumType("LinkInviteStatus", {
  values: ["ACTIVE", "REVOKED", "EXPIRED", "USED_UP"] as const,
});
export const LinkInviteTargetKindEnum = builder.enumType("LinkInviteTargetKind", {
  values: ["ORGANIZATION", "SPACE", "COLLECTION"] as const,
});

/** Spaces and collections belong to another subgraph: key-only references (`resolvable: false`). */
const SpaceRef = builder
  .externalRef("Space", builder.keyDirective(idKey(), false))
  .implement({ fields: (t) => ({ id: t.exposeID("id") }) });
const CollectionRef = builder
  .externalRef("Collection", builder.keyDirective(idKey(), false))
  .implement({ fields: (t) => ({ id: t.exposeID("id") }) });

export const LinkInviteRef = builder.prismaObject("LinkInvite", {
  fields: (t) => ({
    id: t.exposeID("id", { description: "The link's secret: whoever holds it can join." }),
    // The organization comes from the request's loader (ctx.access), which the rules of its fields
    // have filled already: a page of 50 under Organization.invites does not join the same row 50 times.
    organization: t.field({
      type: OrganizationRef,
      resolve: (parent, _args, ctx) => organizationOf(ctx, parent.organizationId),
    }),
    kind: t.expose("kind", { type: LinkInviteTargetKindEnum }),
    role: t.expose("role", {
      type: MemberRoleEnum,
      description: "For ORGANIZATION; the level for SPACE / COLLECTION.",
    }),
    spaceId: t.exposeID("spaceId", { nullable: true }),
    collectionId: t.exposeID("collectionId", { nullable: true }),
    space: t.field({
      type: SpaceRef,
      nullable: true,
      description: "The space a SPACE link grants access to (its fields come from the subgraph that owns spaces).",
      resolve: (link) => (link.spaceId ? { id: link.spaceId } : null),
    }),
    collection: t.field({
      type: CollectionRef,
      nullable: true,
      description: "The collection a COLLECTION link grants access to (owned by another subgraph).",
      resolve: (link) => (link.collectionId ? { id: link.collectionId } : null),
    }),
    redundant: t.boolean({
      description: "The viewer already has all that this link grants.",
      resolve: async (link, _args, ctx) => {
        const role = await ctx.access.roleIn(link.organizationId);
        const grants =
          role === "GUEST" && ctx.viewer ? await guestGrants(ctx.db, link.organizationId, ctx.viewer.id) : [];
        return isLinkRedundant(link, role, grants);
      },
    }),
    url: t.string({ resolve: (link, _args, ctx) => linkInviteUrl(ctx.config.publicUrl, link) }),
    status: t.field({ type: LinkInviteStatusEnum, resolve: (link, _args, ctx) => linkInviteStatus(link, ctx.now) }),
    uses: t.exposeInt("uses"),
    maxUses: t.exposeInt("maxUses", { nullable: true }),
    createdBy: t.relation("createdBy", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", nullable: true }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true }),
  }),
});

builder.asEntity(LinkInviteRef, {
  key: idKey(),
  resolveReference: ({ id }, ctx) => resolveVisibleEntity(ctx, "linkInvite", id),
});

const LinkInvitePreviewRef = builder.objectRef<LinkInvitePreview>("LinkInvitePreview").implement({
  description: "What anyone holding a link's id may see before joining.",
  fields: (t) => ({
    organizationId: t.exposeID("organizationId"),
    organizationTitle: t.exposeString("organizationTitle"),
    kind: t.expose("kind", { type: LinkInviteTargetKindEnum }),
    role: t.expose("role", { type: MemberRoleEnum }),
    status: t.expose("status", { type: LinkInviteStatusEnum }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", nullable: true }),
    alreadyMember: t.exposeBoolean("alreadyMember", { description: "false when anonymous." }),
  }),
});

builder.queryField("linkInvitePreview", (t) =>
  t.field({
    type: LinkInvitePreviewRef,
    nullable: true,
    args: { organizationId: t.arg.id({ required: true }), inviteId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => previewLinkInvite(ctx.db, { ...args, viewerId: ctx.viewer?.id ?? null }, ctx.now),
  }),
);

const CreateLinkInviteInput = builder.inputType("CreateLinkInviteInput", {
  fields: (t) => ({
    kind: t.field({ type: LinkInviteTargetKindEnum, defaultValue: "ORGANIZATION" }),
    role: t.field({ type: MemberRoleEnum, required: true }),
    spaceId: t.id(),
    collectionId: t.id(),
    expiresAt: t.field({ type: "DateTime" }),
    maxUses: t.int(),
  }),
});

const UpdateLinkInviteInput = builder.inputType("UpdateLinkInviteInput", {
  description: "Omitted fields stay as they are; null clears expiresAt or maxUses.",
  fields: (t) => ({
    role: t.field({ type: MemberRoleEnum }),
    expiresAt: t.field({ type: "DateTime" }),
    maxUses: t.int(),
  }),
});

const linkPayload = (name: string) =>
  builder.objectRef<{ linkInvite: LinkInvite }>(name).implement({
    fields: (t) => ({ linkInvite: t.field({ type: LinkInviteRef, resolve: (r) => r.linkInvite }) }),
  });
const CreateLinkInviteSuccess = linkPayload("CreateLinkInviteSuccess");
const UpdateLinkInviteSuccess = linkPayload("UpdateLinkInviteSuccess");

const RevokeLinkInviteSuccess = builder
  .objectRef<{ linkInvite: LinkInvite | null; existed: boolean }>("RevokeLinkInviteSuccess")
  .implement({
    fields: (t) => ({
      linkInvite: t.field({ type: LinkInviteRef, nullable: true, resolve: (r) => r.linkInvite }),
      existed: t.exposeBoolean("existed"),
    }),
  });

builder.mutationFields((t) => ({
  createLinkInvite: t.field({
    type: CreateLinkInviteSuccess,
    errors: mutationErrors("CreateLinkInvite", []),
    args: {
      organizationId: t.arg.id({ required: true }),
      input: t.arg({ type: CreateLinkInviteInput, required: true }),
    },
    resolve: async (_root, args, ctx) => ({
      linkInvite: await createLinkInvite(ctx.db, {
        organizationId: args.organizationId,
        actor: requireActor(ctx),
        input: args.input,
      }),
    }),
  }),
  updateLinkInvite: t.field({
    type: UpdateLinkInviteSuccess,
    errors: mutationErrors("UpdateLinkInvite", [NotFoundError, InviteRevokedError]),
    args: {
      organizationId: t.arg.id({ required: true }),
      inviteId: t.arg.id({ required: true }),
      input: t.arg({ type: UpdateLinkInviteInput, required: true }),
    },
    resolve: async (_root, args, ctx) => ({
      linkInvite: await updateLinkInvite(ctx.db, { ...args, actor: requireActor(ctx) }),
    }),
  }),
  revokeLinkInvite: t.field({
    type: RevokeLinkInviteSuccess,
    errors: mutationErrors("RevokeLinkInvite", []),
    args: { organizationId: t.arg.id({ required: true }), inviteId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => revokeLinkInvite(ctx.db, { ...args, actor: requireActor(ctx) }),
  }),
}));
