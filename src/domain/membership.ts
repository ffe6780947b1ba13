import type { Invite, LinkInvite, Member, PrismaClient } from "../generated/prisma/client.js";
import { InviteState } from "../generated/prisma/enums.js";
import { actorOf, recordAuditEvents } from "./audit.js";
import {
  AlreadyMemberError,
  InviteAlreadyAcceptedError,
  InviteEmailMismatchError,
  InviteExpiredError,
  InviteRevokedError,
  InviteUsedUpError,
  NotFoundError,
} from "./errors.js";
import { inviteStatus } from "./invites.js";
import { linkInviteStatus } from "./link-invites.js";
import { inTransaction, lockInvites, prismaErrorCode, type Tx } from "./tx.js";
import { currentEmail, type Viewer } from "./users.js";
import { idSchema, parse } from "./validation.js";

/**
 * Joins the viewer to an organization with an email invite or a link (a link's id is its secret).
 * Membership is checked first; then the invite's own rules. One transaction: the use of a link
 * is consumed by a conditional UPDATE, so `maxUses` holds under concurrent joins.
 */
export async function joinWithInvite(
  db: PrismaClient,
  viewer: Viewer,
  args: { organizationId: string; inviteId: string },
): Promise<Member> {
  parse(idSchema, args.organizationId, ["organizationId"]);
  parse(idSchema, args.inviteId, ["inviteId"]);
  try {
    return await inTransaction(db, async (tx) => {
      const existing = await tx.member.findUnique({
        where: { organizationId_userId: { organizationId: args.organizationId, userId: viewer.id } },
        select: { role: true },
      });
      if (existing) throw new AlreadyMemberError();
      const where = { id: args.inviteId, organizationId: args.organizationId };
      // Locked: a concurrent refresh or revoke of this invite waits, or has committed already.
      await lockInvites(tx, args.organizationId, { ids: [args.inviteId] });
      const invite = await tx.invite.findFirst({ where });
      if (invite) return joinWithEmailInvite(tx, viewer, invite);
      const link = await tx.linkInvite.findFirst({ where });
      if (link) return joinWithLink(tx, viewer, link);
      throw new NotFoundError("No such invite in this organization");
    });
  } catch (error) {
    // A concurrent join of the same user won the membership's primary key.
    if (prismaErrorCode(error) === "P2002") throw new AlreadyMemberError();
    throw error;
  }
}

async function joinWithEmailInvite(tx: Tx, viewer: Viewer, invite: Invite): Promise<Member> {
  const { email, emailVerified } = await currentEmail(tx, viewer);
  if (!email || email.toLowerCase() !== invite.email) {
    throw new InviteEmailMismatchError("This invite was sent to another email address");
  }
  if (!emailVerified) {
    throw new InviteEmailMismatchError("Your email address is not verified; this invite needs a verified email");
  }
  const now = new Date();
  throwForInviteStatus(inviteStatus(invite, now));
  const accepted = await tx.invite.updateMany({
    where: { id: invite.id, status: InviteState.PENDING, expiresAt: { gt: now } },
    data: { status: InviteState.ACCEPTED, acceptedAt: now, userId: viewer.id },
  });
  if (accepted.count !== 1) throw new InviteAlreadyAcceptedError();
  const member = await tx.member.create({
    data: { organizationId: invite.organizationId, userId: viewer.id, role: invite.role, sso: invite.sso },
  });
  await recordAuditEvents(tx, invite.organizationId, actorOf(viewer), [
    { action: "invite.accepted", targetId: invite.id },
  ]);
  return member;
}

function throwForInviteStatus(status: ReturnType<typeof inviteStatus>): void {
  if (status === "ACCEPTED") throw new InviteAlreadyAcceptedError();
  if (status === "REVOKED") throw new InviteRevokedError();
  if (status === "EXPIRED") throw new InviteExpiredError();
}

async function joinWithLink(tx: Tx, viewer: Viewer, link: LinkInvite): Promise<Member> {
  const now = new Date();
  throwForLinkStatus(linkInviteStatus(link, now));
  // Consume one use only if the link is still usable at this instant: the UPDATE takes the row
  // lock and re-checks its WHERE against the latest committed row, so maxUses holds. The row it
  // returns (not the one read before) says what the link grants now.
  const [consumed] = await tx.linkInvite.updateManyAndReturn({
    where: {
      id: link.id,
      revokedAt: null,
      AND: [
        { OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
        { OR: [{ maxUses: null }, { uses: { lt: tx.linkInvite.fields.maxUses } }] },
      ],
    },
    data: { uses: { increment: 1 } },
  });
  if (!consumed) {
    const current = await tx.linkInvite.findUniqueOrThrow({ where: { id: link.id } });
    throwForLinkStatus(linkInviteStatus(current, now));
    throw new InviteUsedUpError();
  }
  const member = await addMemberWithLink(tx, viewer, consumed);
  await recordAuditEvents(tx, link.organizationId, actorOf(viewer), [{ action: "link.used", targetId: link.id }]);
  return member;
}

async function addMemberWithLink(tx: Tx, viewer: Viewer, link: LinkInvite): Promise<Member> {
  const isOrgLink = link.kind === "ORGANIZATION";
  const member = await tx.member.create({
    data: {
      organizationId: link.organizationId,
      userId: viewer.id,
      role: isOrgLink ? link.role : "GUEST",
      sso: false,
    },
  });
  if (!isOrgLink) {
    await tx.memberGrant.create({
      data: {
        organizationId: link.organizationId,
        userId: viewer.id,
        kind: link.kind,
        targetId: (link.kind === "SPACE" ? link.spaceId : link.collectionId) as string,
        role: link.role,
      },
    });
  }
  return member;
}

function throwForLinkStatus(status: ReturnType<typeof linkInviteStatus>): void {
  if (status === "REVOKED") throw new InviteRevokedError("This invite link has been revoked");
  if (status === "EXPIRED") throw new InviteExpiredError("This invite link has expired");
  if (status === "USED_UP") throw new InviteUsedUpError();
}
