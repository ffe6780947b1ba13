import type { ObjectFieldsShape } from "@pothos/core";
import { updateOrganizationDomains } from "../../domain/domains.js";
import { RateLimitedError } from "../../domain/errors.js";
import { firstInvitePage, type InviteStatus, inviteStatusWhere } from "../../domain/invites.js";
import { memberListOrder, memberListWhere } from "../../domain/members.js";
import { createOrganization } from "../../domain/organizations.js";
import { type Organization, Prisma } from "../../generated/prisma/client.js";
import { builder, connectionPaging, idKey } from "../builder.js";
import { badUserInput } from "../errors.js";
import { requireViewer, resolveVisibleEntity } from "./context-helpers.js";
import { type BuilderTypes, resultMutation } from "./errors.js";
import { InviteStatusEnum } from "./invite-status.js";
import { MemberOrderEnum, MemberRoleEnum } from "./member.js";

/**
 * The longest member search: a name or an email fits many times over. Each character is matched
 * against every member's name and email (ILIKE): a 900 KB search cost the embedded database about 10
 * times an argument of that size elsewhere, for any member to send.
 */
export const MAX_SEARCH_LENGTH = 200;

function searchTerm(search: string | null | undefined): string | null | undefined {
  if (search && search.length > MAX_SEARCH_LENGTH) {
    throw badUserInput(`search is longer than ${MAX_SEARCH_LENGTH} characters`);
  }
  return search;
}

export const OrganizationRef = builder.prismaObject("Organization", {
  fields: (t) => ({
    id: t.exposeID("id"),
    title: t.exposeString("title"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    viewerRole: t.field({
      type: MemberRoleEnum,
      nullable: true,
      description: "null when the viewer is not a member.",
      resolve: (org, _args, ctx) => ctx.access.roleIn(org.id),
    }),
    allowedDomains: t.exposeStringList("allowedDomains", {
      description: "Email domains whose verified users may join as READ (joinOrganizationByDomain). Admins only.",
    }),
    members: t.relatedConnection(
      "members",
      {
        description:
          "Members, newest first unless `orderBy` says otherwise; `role` filters, `search` (at most 200 characters) keeps those whose name or email contains it (any case). Members only.",
        cursor: "organizationId_userId",
        totalCount: true,
        ...connectionPaging,
        args: {
          role: t.arg({ type: MemberRoleEnum }),
          search: t.arg.string(),
          orderBy: t.arg({ type: MemberOrderEnum, defaultValue: "JOINED_AT_DESC" }),
        },
        query: (args) => ({
          where: memberListWhere({ role: args.role, search: searchTerm(args.search) }),
          orderBy: memberListOrder(args.orderBy ?? "JOINED_AT_DESC"),
        }),
      },
      { name: "MemberConnection" },
      { name: "MemberEdge" },
    ),
    // The page and its total are statements of their own, not a relation in the organization's query:
    // there relationJoins builds, sorts and aggregates a JSON object per invite of the organization,
    // several times PostgreSQL's CPU of plain rows (bench/results/steps-2026-12-03-pg.md); and
    // Query.organization then answers with the row its rule loaded.
    invites: t.prismaConnection(
      {
        type: "Invite",
        description: "Email invites of every status, newest first (unless `status` filters). Admins only.",
        cursor: "id",
        ...connectionPaging,
        args: { status: t.arg({ type: InviteStatusEnum }) },
        resolve: async (query, org, args, ctx) => {
          // The first page of every status without relations (the common request): one statement
          // with the total, which totalCount then uses.
          if (!args.status && !query.cursor && query.skip === 0 && query.take > 0 && isEmpty(query.include)) {
            const page = await firstInvitePage(ctx.db, org.id, query.take);
            pageTotals.set(args, page.totalCount);
            return page.invites;
          }
          return ctx.db.invite.findMany({
            ...query,
            where: invitesWhere(org.id, args.status, ctx.now),
            orderBy: [{ createdAt: "desc" }, { id: "desc" }],
          });
        },
        totalCount: (org, args, ctx) =>
          pageTotals.get(args) ?? ctx.db.invite.count({ where: invitesWhere(org.id, args.status, ctx.now) }),
      },
      { name: "InviteConnection" },
      { name: "InviteEdge" },
    ),
    linkInvites: t.relatedConnection(
      "linkInvites",
      {
        description: "Invite links of every status, newest first. Admins only.",
        cursor: "id",
        totalCount: true,
        ...connectionPaging,
        query: () => ({ orderBy: [{ createdAt: "desc" }, { id: "desc" }] }),
      },
      { name: "LinkInviteConnection" },
      { name: "LinkInviteEdge" },
    ),
    auditLog: t.relatedConnection(
      "auditEvents",
      {
        description: "Who changed what (invites and links), newest first. Admins only.",
        cursor: "id",
        totalCount: true,
        ...connectionPaging,
        query: () => ({ orderBy: [{ createdAt: "desc" }, { id: "desc" }] }),
      },
      { name: "AuditEventConnection" },
      { name: "AuditEventEdge" },
    ),
    member: t.prismaField({
      type: "Member",
      nullable: true,
      description: "One member of this organization; null if the user is not a member. Members only.",
      args: { userId: t.arg.id({ required: true }) },
      resolve: (query, org, args, ctx) =>
        ctx.db.member.findUnique({
          ...query,
          where: { organizationId_userId: { organizationId: org.id, userId: args.userId } },
        }),
    }),
    linkInvite: t.prismaField({
      type: "LinkInvite",
      nullable: true,
      description: "One invite link of this organization; null if unknown. Admins only.",
      args: { id: t.arg.id({ required: true }) },
      resolve: (query, org, args, ctx) =>
        ctx.db.linkInvite.findFirst({ ...query, where: { id: args.id, organizationId: org.id } }),
    }),
  }),
});

builder.asEntity(OrganizationRef, {
  key: idKey(),
  // The rows come with the viewer's role, which the type's rules then ask for (one statement); an
  // organization the viewer may not see is null, as one that does not exist.
  resolveReference: ({ id }, ctx) => resolveVisibleEntity(ctx, "organization", id, ctx.access.organization),
});

builder.queryField("organization", (t) =>
  t.prismaField({
    type: "Organization",
    nullable: true,
    description: "An organization the viewer is a member of (FORBIDDEN otherwise, whether or not it exists).",
    args: { id: t.arg.id({ required: true }) },
    // The rule has loaded the row with the viewer's role (ctx.access): when the query selects columns
    // only (no relation, no count), that row is the answer, and the request makes one statement.
    resolve: (query, _root, args, ctx) =>
      selectsColumnsOnly(query)
        ? ctx.access.organization(args.id)
        : ctx.db.organization.findUnique({ ...query, where: { id: args.id } }),
  }),
);

/** The total a page's statement counted, for its connection's totalCount (keyed by the field's args). */
const pageTotals = new WeakMap<object, number>();

function isEmpty(include: object | undefined): boolean {
  return !include || Object.keys(include).length === 0;
}

/** An organization's invites, of one status when `status` is given. */
function invitesWhere(organizationId: string, status: InviteStatus | null | undefined, now: Date) {
  return { organizationId, ...(status ? inviteStatusWhere(status, now) : {}) };
}

/** plugin-prisma's query for an Organization asks for nothing but its own columns. */
function selectsColumnsOnly(query: { include?: unknown; select?: Record<string, unknown> }): boolean {
  if (query.include) return false;
  return Object.entries(query.select ?? {}).every(
    ([field, wanted]) => wanted === true && field in Prisma.OrganizationScalarFieldEnum,
  );
}

const CreateOrganizationInput = builder.inputType("CreateOrganizationInput", {
  fields: (t) => ({ title: t.string({ required: true }) }),
});

/** The success of a mutation that answers with the organization: `{ organization: Organization! }`. */
const organizationPayload: ObjectFieldsShape<BuilderTypes, { organization: Organization }> = (t) => ({
  organization: t.field({ type: OrganizationRef, resolve: (r) => r.organization }),
});

resultMutation("createOrganization", {
  description:
    "Any signed-in user; the creator becomes ADMIN. A user may create a limited number a day (UTC, set by the operator); beyond it, RATE_LIMITED.",
  errors: [RateLimitedError],
  args: builder.args((t) => ({ input: t.field({ type: CreateOrganizationInput, required: true }) })),
  success: organizationPayload,
  resolve: async (args, ctx) => ({
    organization: await createOrganization(ctx.db, requireViewer(ctx).id, args.input.title, {
      dailyLimit: ctx.config.orgCreateLimitPerDay,
    }),
  }),
});

resultMutation("updateOrganizationDomains", {
  description:
    "Admins. Replaces the allowed email domains (trimmed, lower-cased, deduplicated, at most 50; [] turns joining by domain off).",
  errors: [],
  args: builder.args((t) => ({
    organizationId: t.id({ required: true }),
    domains: t.stringList({ required: true }),
  })),
  success: organizationPayload,
  resolve: async (args, ctx) => ({ organization: await updateOrganizationDomains(ctx.db, args) }),
});
