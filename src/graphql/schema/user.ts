import { inviteStatusWhere } from "../../domain/invites.js";
import { MAX_LISTED_ORGANIZATIONS, MAX_LISTED_PENDING_INVITES } from "../../domain/users.js";
import { builder, idKey } from "../builder.js";
import { resolveVisibleEntity } from "./context-helpers.js";

export const UserRef = builder.prismaObject("User", {
  fields: (t) => ({
    id: t.exposeID("id"),
    email: t.exposeString("email", { nullable: true }),
    displayName: t.exposeString("displayName", { nullable: true }),
    organizations: t.relation("memberships", {
      description: `Memberships, newest first, at most ${MAX_LISTED_ORGANIZATIONS}. For the viewer: all of them; for another user: only organizations the viewer is a member of too.`,
      query: (_args, ctx) => ({
        where: { organization: { members: { some: { userId: ctx.viewer?.id ?? "" } } } },
        orderBy: [{ joinedAt: "desc" }, { organizationId: "desc" }],
        take: MAX_LISTED_ORGANIZATIONS,
      }),
    }),
    pendingInvites: t.relation("invites", {
      nullable: true,
      description: `The viewer's own PENDING email invites, newest first, at most ${MAX_LISTED_PENDING_INVITES}. FORBIDDEN on other users.`,
      query: (_args, ctx) => ({
        where: inviteStatusWhere("PENDING", ctx.now),
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: MAX_LISTED_PENDING_INVITES,
      }),
    }),
  }),
});

// Federation: the gateway asks `_entities` for users by id; findUnique calls of one tick are
// batched by Prisma into one statement.
builder.asEntity(UserRef, {
  key: idKey(),
  resolveReference: ({ id }, ctx) => resolveVisibleEntity(ctx, "user", id),
});

builder.queryField("viewer", (t) =>
  t.prismaField({
    type: "User",
    nullable: true,
    description: "The signed-in user; null when anonymous.",
    resolve: (query, _root, _args, ctx) =>
      ctx.viewer ? ctx.db.user.findUnique({ ...query, where: { id: ctx.viewer.id } }) : null,
  }),
);
