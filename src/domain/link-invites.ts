import { z } from "zod";
import type { LinkInvite, Prisma, PrismaClient } from "../generated/prisma/client.js";
import { type Actor, recordAuditEvents } from "./audit.js";
import { InviteRevokedError, NotFoundError, ValidationError } from "./errors.js";
import { newSecretId } from "./ids.js";
import { hasAtLeast, roleSchema } from "./roles.js";
import { inTransaction, lockLinkInvite } from "./tx.js";
import { idSchema, instantSchema, parse, storableText } from "./validation.js";

export type LinkInviteStatus = "ACTIVE" | "REVOKED" | "EXPIRED" | "USED_UP";
type LinkState = Pick<LinkInvite, "revokedAt" | "expiresAt" | "uses" | "maxUses">;

export function linkInviteStatus(link: LinkState, now = new Date()): LinkInviteStatus {
  if (link.revokedAt) return "REVOKED";
  if (link.expiresAt && link.expiresAt <= now) return "EXPIRED";
  if (link.maxUses != null && link.uses >= link.maxUses) return "USED_UP";
  return "ACTIVE";
}

export function linkInviteUrl(publicUrl: string, link: Pick<LinkInvite, "id" | "organizationId">): string {
  return `${publicUrl}/invite/${encodeURIComponent(link.organizationId)}/${encodeURIComponent(link.id)}`;
}

/** True when a member with `role` (and these guest grants) already has all that the link grants. */
export function isLinkRedundant(
  link: Pick<LinkInvite, "kind" | "role" | "spaceId" | "collectionId">,
  role: LinkInvite["role"] | null,
  grants: Array<{ kind: string; targetId: string; role: LinkInvite["role"] }> = [],
): boolean {
  if (role == null) return false;
  if (link.kind === "ORGANIZATION") return hasAtLeast(role, link.role);
  if (role !== "GUEST") return hasAtLeast(role, link.role);
  const targetId = link.kind === "SPACE" ? link.spaceId : link.collectionId;
  return grants.some((g) => g.kind === link.kind && g.targetId === targetId && hasAtLeast(g.role, link.role));
}

const MAX_USES_LIMIT = 1_000_000;
const grantableRole = roleSchema.refine((r) => r !== "GUEST", "A link cannot grant the GUEST role");
const targetId = storableText(z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters"));
const maxUses = z
  .number()
  .int()
  .min(1, "maxUses must be at least 1")
  .max(MAX_USES_LIMIT, `maxUses must be at most ${MAX_USES_LIMIT}`);

export const createLinkInviteInputSchema = z
  .object({
    kind: z.enum(["ORGANIZATION", "SPACE", "COLLECTION"]).nullish(),
    role: grantableRole,
    spaceId: targetId.nullish(),
    collectionId: targetId.nullish(),
    expiresAt: instantSchema.nullish(),
    maxUses: maxUses.nullish(),
  })
  .superRefine((input, ctx) => {
    const kind = input.kind ?? "ORGANIZATION";
    if (kind === "SPACE" && !input.spaceId)
      ctx.addIssue({ code: "custom", path: ["spaceId"], message: "A SPACE link needs a spaceId" });
    if (kind === "COLLECTION" && !input.collectionId)
      ctx.addIssue({ code: "custom", path: ["collectionId"], message: "A COLLECTION link needs a collectionId" });
    if (kind !== "SPACE" && input.spaceId)
      ctx.addIssue({ code: "custom", path: ["spaceId"], message: `A ${kind} link takes no spaceId` });
    if (kind !== "COLLECTION" && input.collectionId)
      ctx.addIssue({ code: "custom", path: ["collectionId"], message: `A ${kind} link takes no collectionId` });
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now())
      ctx.addIssue({ code: "custom", path: ["expiresAt"], message: "expiresAt must be in the future" });
  });
export type CreateLinkInviteInput = z.input<typeof createLinkInviteInputSchema>;

export async function createLinkInvite(
  db: PrismaClient,
  args: { organizationId: string; actor: Actor; input: CreateLinkInviteInput },
): Promise<LinkInvite> {
  const input = parse(createLinkInviteInputSchema, args.input, ["input"]);
  return inTransaction(db, async (tx) => {
    const link = await tx.linkInvite.create({
      data: {
        id: newSecretId(),
        organizationId: args.organizationId,
        kind: input.kind ?? "ORGANIZATION",
        role: input.role,
        spaceId: input.spaceId ?? null,
        collectionId: input.collectionId ?? null,
        expiresAt: input.expiresAt ?? null,
        maxUses: input.maxUses ?? null,
        createdById: args.actor.userId,
      },
    });
    await recordAuditEvents(tx, args.organizationId, args.actor, [{ action: "link.created", targetId: link.id }]);
    return link;
  });
}

/** Absent = unchanged; null = cleared (expiresAt, maxUses). */
export const updateLinkInviteInputSchema = z.object({
  role: grantableRole.nullish(),
  expiresAt: instantSchema.nullish(),
  maxUses: maxUses.nullish(),
});
export type UpdateLinkInviteInput = z.input<typeof updateLinkInviteInputSchema>;

export async function updateLinkInvite(
  db: PrismaClient,
  args: { organizationId: string; inviteId: string; input: UpdateLinkInviteInput; actor: Actor },
): Promise<LinkInvite> {
  parse(idSchema, args.inviteId, ["inviteId"]);
  const input = parse(updateLinkInviteInputSchema, args.input, ["input"]);
  return inTransaction(db, async (tx) => {
    // Locked, so `uses` cannot grow past a new maxUses between this check and the update.
    if (!(await lockLinkInvite(tx, args.organizationId, args.inviteId))) {
      throw new NotFoundError("No such link invite in this organization");
    }
    const link = await tx.linkInvite.findUniqueOrThrow({ where: { id: args.inviteId } });
    if (link.revokedAt) throw new InviteRevokedError("This link has been revoked and cannot be changed");
    if (input.maxUses != null && input.maxUses < link.uses) {
      throw new ValidationError(`maxUses cannot be below the ${link.uses} uses this link already has`, [
        { path: ["input", "maxUses"], message: `must be at least ${link.uses}` },
      ]);
    }
    // Only what differs from the stored link: an update that changes nothing writes nothing.
    const data: Prisma.LinkInviteUpdateInput = {};
    if (input.role != null && input.role !== link.role) data.role = input.role;
    if (input.expiresAt !== undefined && input.expiresAt?.getTime() !== link.expiresAt?.getTime())
      data.expiresAt = input.expiresAt;
    if (input.maxUses !== undefined && input.maxUses !== link.maxUses) data.maxUses = input.maxUses;
    if (Object.keys(data).length === 0) return link;
    const updated = await tx.linkInvite.update({ where: { id: link.id }, data });
    await recordAuditEvents(tx, args.organizationId, args.actor, [{ action: "link.updated", targetId: link.id }]);
    return updated;
  });
}

/** Revoking is idempotent; revoking an unknown link reports existed: false. */
export async function revokeLinkInvite(
  db: PrismaClient,
  args: { organizationId: string; inviteId: string; actor: Actor },
): Promise<{ linkInvite: LinkInvite | null; existed: boolean }> {
  parse(idSchema, args.inviteId, ["inviteId"]);
  return inTransaction(db, async (tx) => {
    const where = { id: args.inviteId, organizationId: args.organizationId };
    const revoked = await tx.linkInvite.updateMany({
      where: { ...where, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    if (revoked.count > 0) {
      await recordAuditEvents(tx, args.organizationId, args.actor, [
        { action: "link.revoked", targetId: args.inviteId },
      ]);
    }
    const linkInvite = await tx.linkInvite.findFirst({ where });
    return { linkInvite, existed: linkInvite !== null };
  });
}

export interface LinkInvitePreview {
  organizationId: string;
  organizationTitle: string;
  kind: LinkInvite["kind"];
  role: LinkInvite["role"];
  status: LinkInviteStatus;
  expiresAt: Date | null;
  alreadyMember: boolean;
}

/** What a landing page may show to anyone holding the link's id; null when unknown. */
export async function previewLinkInvite(
  db: PrismaClient,
  args: { organizationId: string; inviteId: string; viewerId: string | null },
  now = new Date(),
): Promise<LinkInvitePreview | null> {
  const link = await db.linkInvite.findFirst({
    where: { id: args.inviteId, organizationId: args.organizationId },
    include: {
      organization: {
        select: { title: true, members: { where: { userId: args.viewerId ?? "" }, select: { userId: true } } },
      },
    },
  });
  if (!link) return null;
  return {
    organizationId: link.organizationId,
    organizationTitle: link.organization.title,
    kind: link.kind,
    role: link.role,
    status: linkInviteStatus(link, now),
    expiresAt: link.expiresAt,
    alreadyMember: link.organization.members.length > 0,
  };
}

/** The viewer's grants on spaces/collections of an organization (only guests have any). */
export function guestGrants(db: PrismaClient, organizationId: string, userId: string) {
  return db.memberGrant.findMany({
    where: { organizationId, userId },
    select: { kind: true, targetId: true, role: true },
  });
}
