import { z } from "zod";
import { MAX_PAGE_SIZE } from "../../graphql/builder.js";

/**
 * The REST twin's route table: GitBook's "Organization invites" operations at their paths (under
 * /v1), each one a fixed GraphQL document run through the same Yoga instance (src/http/rest/handler.ts),
 * so the same context, shield rules, limits and domain functions answer both. A route only
 * translates: GitBook's request into variables, the GraphQL answer into GitBook's JSON shape.
 */

/**
 * A zod `error` for a value of the wrong kind: what it must be, or, absent, that it is required.
 * These messages reach the client (parseInput below), naming the field and what it takes.
 */
const expected = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? `is required (${what})` : `must be ${what}`;

const REST_ROLES = ["admin", "create", "edit", "review", "comment", "read"] as const;
const ROLE_VALUES = `one of ${REST_ROLES.join(", ")}, or null`;
/** GitBook's MemberRoleOrGuest: a lower-case role, or null for a guest. */
const restRole = z.enum(REST_ROLES, { error: expected(ROLE_VALUES) }).nullable();
type RestRole = z.infer<typeof restRole>;

export function toGraphQLRole(role: RestRole): string {
  return role === null ? "GUEST" : role.toUpperCase();
}
export function toRestRole(role: string): RestRole {
  return role === "GUEST" ? null : (role.toLowerCase() as RestRole);
}

/**
 * An answer the twin gives instead of a success: `status` and GitBook's `{ error: { code, message } }`,
 * plus `reason`, the machine-readable code every error carries.
 */
export class RestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /**
     * Sent as error.reason: the GraphQL error code behind it (FORBIDDEN, VALIDATION, DOMAIN_NOT_ALLOWED,
     * ...), or for what the twin refuses itself the code /graphql uses for the same (BAD_REQUEST,
     * REQUEST_ENTITY_TOO_LARGE) or one of HTTP's (NOT_FOUND, METHOD_NOT_ALLOWED).
     */
    readonly reason: string,
    /** Response headers to send with it (a 429's Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** GraphQL `data` as JSON: each route reads the fields its own document selected. */
// biome-ignore lint/suspicious/noExplicitAny: the shape is the route's GraphQL document's; the tests check it.
export type GraphQLData = Record<string, any>;

export interface RestCall {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
}

/** What a reply may need besides the GraphQL answer: the path's parameters and PUBLIC_URL. */
export interface ReplyContext {
  params: Record<string, string>;
  publicUrl: string;
}

export interface RestReply {
  status: number;
  body?: unknown;
}

export interface Route {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** OpenAPI path template, relative to /v1. */
  path: string;
  operationId: string;
  /** The GraphQL operation it runs. */
  document: string;
  /** Whether it reads a JSON body. */
  body: boolean;
  variables(call: RestCall): Record<string, unknown>;
  /** The GraphQL `data` (no top-level errors) to GitBook's answer; throws RestError for an error result. */
  reply(data: GraphQLData, context: ReplyContext): RestReply;
}

/** Statuses of error results (the union members implementing `Error`); every other code is a 400. */
const RESULT_STATUS: Record<string, number> = { NOT_FOUND: 404, RATE_LIMITED: 429 };

/** A mutation's `<Name>Result`: the success payload, or a RestError for an error result. */
function unwrap(result: GraphQLData | null | undefined): GraphQLData {
  if (!result) throw new RestError(500, "Unexpected error.", "INTERNAL_SERVER_ERROR");
  if (typeof result.code === "string" && typeof result.message === "string") {
    throw new RestError(RESULT_STATUS[result.code] ?? 400, result.message, result.code);
  }
  return result;
}

/** At most this many problems are listed in one answer (a list of 1000 bad invitees is one line). */
const MAX_PROBLEMS = 5;

/** zod for a body or query; a failure is a 400 naming each field that is wrong and what it takes. */
function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue, []));
  const more = problems.length > MAX_PROBLEMS ? `; and ${problems.length - MAX_PROBLEMS} more` : "";
  throw new RestError(400, `Invalid ${what}: ${problems.slice(0, MAX_PROBLEMS).join("; ")}${more}`, "VALIDATION");
}

/**
 * `path: message` for each problem of an issue (`emails[1].role: must be ...`). A failed union (an
 * invitee is an email or an object) is described by the option the value was meant for, the only
 * one whose problems are not about the value's own type (an object with a bad role: the object
 * option's); when no single option is, by the union's own message.
 */
function describeIssue(issue: z.core.$ZodIssue, base: PropertyKey[]): string[] {
  const path = [...base, ...issue.path];
  if (issue.code === "invalid_union") {
    const meant = issue.errors.filter((option) => !option.some((i) => i.code === "invalid_type" && !i.path.length));
    const [only] = meant;
    if (meant.length === 1 && only) return only.flatMap((i) => describeIssue(i, path));
  }
  if (path.length === 0) return [issue.message];
  const where = path.map((key, i) => (typeof key === "number" ? `[${key}]` : `${i ? "." : ""}${String(key)}`));
  return [`${where.join("")}: ${issue.message}`];
}

const LINK_FIELDS = /* GraphQL */ `
  fragment RestLink on LinkInvite { id kind role spaceId collectionId redundant url status uses maxUses createdAt expiresAt }
`;

interface GraphQLLink {
  id: string;
  kind: "ORGANIZATION" | "SPACE" | "COLLECTION";
  role: string;
  spaceId: string | null;
  collectionId: string | null;
  redundant: boolean;
  url: string;
  status: string;
  uses: number;
  maxUses: number | null;
  createdAt: string;
  expiresAt: string | null;
}

/**
 * GitBook's InviteLinkToOrganization / InviteLinkToSpace / InviteLinkToCollection. Besides GitBook's
 * fields: `url`, `status` (lower-case), `uses`, `maxUses`, `createdAt`, `expiresAt`. A space or
 * collection is only its id here (they belong to another service).
 */
export function restLink(link: GraphQLLink): Record<string, unknown> {
  const extra = {
    redundant: link.redundant,
    url: link.url,
    status: link.status.toLowerCase(),
    uses: link.uses,
    maxUses: link.maxUses,
    createdAt: link.createdAt,
    expiresAt: link.expiresAt,
  };
  const level = toRestRole(link.role);
  if (link.kind === "SPACE") {
    return { object: "invite", id: link.id, level, space: { object: "space", id: link.spaceId }, ...extra };
  }
  if (link.kind === "COLLECTION") {
    return {
      object: "invite",
      id: link.id,
      level,
      collection: { object: "collection", id: link.collectionId },
      ...extra,
    };
  }
  return { object: "invite", id: link.id, role: level, ...extra };
}

/** Not GitBook's, accepted too: a link's expiry (ISO 8601) and its number of uses. */
const linkOptions = {
  expiresAt: z.iso
    .datetime({ offset: true, error: expected("an ISO 8601 date-time with a time zone, e.g. 2030-01-31T12:00:00Z") })
    .optional(),
  maxUses: z
    .number({ error: expected("an integer") })
    .int({ error: "must be an integer" })
    .optional(),
};
const LINK_OPTIONS = "expiresAt and maxUses may be given too";
const jsonObject = { error: "must be a JSON object" };

const inviteUsersBody = z.object(
  {
    emails: z.array(
      z.union([z.string(), z.object({ email: z.string({ error: expected("an email address") }), role: restRole })], {
        error: "must be an email address, or an object {email, role}",
      }),
      { error: expected("an array of email addresses or {email, role} objects") },
    ),
    role: restRole.optional(),
    sso: z.boolean({ error: "must be true or false" }).optional(),
  },
  jsonObject,
);

/**
 * GitBook's CreateOrganizationInvite: `{role}` (an organization link), `{level, space}` or `{level,
 * collection}`. One object rather than a union of three, so that a wrong field is named (a union
 * only says that no option fitted); which kind it is, is decided as the union did.
 */
const createLinkBody = z
  .object(
    {
      role: restRole.optional(),
      level: restRole.optional(),
      space: z.string({ error: "must be a string: the space's id" }).optional(),
      collection: z.string({ error: "must be a string: the collection's id" }).optional(),
      ...linkOptions,
    },
    jsonObject,
  )
  .transform((b, ctx) => {
    const options = { expiresAt: b.expiresAt, maxUses: b.maxUses };
    if (b.level !== undefined && b.space !== undefined) {
      return { kind: "SPACE", role: toGraphQLRole(b.level), spaceId: b.space, ...options };
    }
    if (b.level !== undefined && b.collection !== undefined) {
      return { kind: "COLLECTION", role: toGraphQLRole(b.level), collectionId: b.collection, ...options };
    }
    if (b.role !== undefined) return { kind: "ORGANIZATION", role: toGraphQLRole(b.role), ...options };
    ctx.addIssue({
      code: "custom",
      ...(b.space !== undefined || b.collection !== undefined
        ? { path: ["level"], message: `is required with space or collection (${ROLE_VALUES})` }
        : {
            message: `give role (an organization link), or level with space or collection (a space or collection link): ${ROLE_VALUES}; ${LINK_OPTIONS}`,
          }),
    });
    return z.NEVER;
  });

/** GitBook's PATCH body: `{role}` (an organization link) or `{level}` (a space or collection link). */
const updateLinkBody = z
  .object({ role: restRole.optional(), level: restRole.optional(), ...linkOptions }, jsonObject)
  .transform((b, ctx) => {
    const role = b.role !== undefined ? b.role : b.level;
    if (role === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `give role (an organization link) or level (a space or collection link): ${ROLE_VALUES}; ${LINK_OPTIONS}`,
      });
      return z.NEVER;
    }
    return { role: toGraphQLRole(role), expiresAt: b.expiresAt, maxUses: b.maxUses };
  });

const LIMIT = `must be an integer from 0 to ${MAX_PAGE_SIZE}`;
const listQuery = z.object({
  page: z.string().optional(),
  limit: z.coerce.number({ error: LIMIT }).int({ error: LIMIT }).min(0, LIMIT).max(MAX_PAGE_SIZE, LIMIT).optional(),
});

/** The query of a list, `?limit=` (empty) being no value rather than 0. */
function listParams<S extends z.ZodType>(schema: S, query: URLSearchParams): z.output<S> {
  return parseInput(schema, Object.fromEntries([...query].filter(([, value]) => value !== "")), "query");
}

/**
 * GitBook's member list query: `role` (a role, or `guest`), `search` (name or email), `sort`
 * (`joinedAt` or `name`; `lastSeenAt` is GitBook's but this service does not record it: a 400) and
 * `order` (`desc` by default).
 */
const memberListQuery = listQuery.extend({
  role: z
    .enum([...REST_ROLES, "guest"], { error: expected(`one of ${[...REST_ROLES, "guest"].join(", ")}`) })
    .optional(),
  search: z.string().optional(),
  sort: z
    .enum(["joinedAt", "name", "lastSeenAt"], { error: expected("joinedAt or name") })
    .refine((sort) => sort !== "lastSeenAt", {
      error: "lastSeenAt is not recorded by this service: use joinedAt or name",
    })
    .optional(),
  order: z.enum(["asc", "desc"], { error: expected("asc or desc") }).optional(),
});

const memberPatchBody = z
  .object({ role: restRole.optional() }, jsonObject)
  .refine((b) => b.role !== undefined, { error: `give role: ${ROLE_VALUES}` });

const MEMBER_FIELDS = /* GraphQL */ `
  fragment RestMember on Member { role sso joinedAt user { id email displayName } }
`;

interface GraphQLMember {
  role: string;
  sso: boolean;
  joinedAt: string;
  user: { id: string; email: string | null; displayName: string | null };
}

/**
 * GitBook's OrganizationMember, with what this service knows: `disabled` is always false (members are
 * not disabled here, they are removed); `lastSeenAt` is not recorded; `spaces`, `teams` and `sites`
 * belong to other services and are left out (src/http/rest/openapi.ts documents the schema so). The
 * user's `displayName` is their name, or their email when they gave none (GitBook requires one);
 * `urls.location` is the member's URL in this API (it has no user endpoint).
 */
export function restMember(member: GraphQLMember, context: ReplyContext): Record<string, unknown> {
  const location = `${context.publicUrl.replace(/\/$/, "")}/v1/orgs/${encodeURIComponent(context.params.organizationId ?? "")}/members/${encodeURIComponent(member.user.id)}`;
  return {
    object: "member",
    id: member.user.id,
    role: toRestRole(member.role),
    user: {
      object: "user",
      id: member.user.id,
      displayName: member.user.displayName ?? member.user.email ?? "",
      ...(member.user.email !== null ? { email: member.user.email } : {}),
      urls: { location },
    },
    disabled: false,
    joinedAt: member.joinedAt,
    sso: member.sso,
  };
}

export const routes: Route[] = [
  {
    method: "POST",
    path: "/orgs/{organizationId}/invites",
    operationId: "inviteUsersToOrganization",
    body: true,
    document: /* GraphQL */ `
      mutation RestInviteUsers($organizationId: ID!, $input: InviteUsersToOrganizationInput!) {
        result: inviteUsersToOrganization(organizationId: $organizationId, input: $input) {
          ... on Error { code message }
          ... on InviteUsersToOrganizationSuccess { users { id } invited failedSSOEmails }
        }
      }`,
    variables: ({ params, body }) => {
      const input = parseInput(inviteUsersBody, body, "body");
      return {
        organizationId: params.organizationId,
        input: {
          emails: input.emails.filter((e): e is string => typeof e === "string"),
          invitees: input.emails
            .filter((e): e is { email: string; role: RestRole } => typeof e !== "string")
            .map((e) => ({ email: e.email, role: toGraphQLRole(e.role) })),
          ...(input.role !== undefined ? { role: toGraphQLRole(input.role) } : {}),
          ...(input.sso !== undefined ? { sso: input.sso } : {}),
        },
      };
    },
    reply: (data) => {
      const r = unwrap(data.result);
      const users = (r.users as Array<{ id: string }>).map((u) => u.id);
      return { status: 200, body: { users, invited: r.invited, failedSSOEmails: r.failedSSOEmails } };
    },
  },
  {
    method: "POST",
    path: "/orgs/{organizationId}/invites/{inviteId}",
    operationId: "joinOrganizationWithInvite",
    body: false,
    document: /* GraphQL */ `
      mutation RestJoinWithInvite($organizationId: ID!, $inviteId: ID!) {
        result: joinOrganizationWithInvite(organizationId: $organizationId, inviteId: $inviteId) {
          ... on Error { code message }
          ... on JoinOrganizationWithInviteSuccess { member { role } }
        }
      }`,
    variables: ({ params }) => ({ organizationId: params.organizationId, inviteId: params.inviteId }),
    reply: (data) => {
      unwrap(data.result);
      return { status: 200, body: {} };
    },
  },
  {
    method: "GET",
    path: "/orgs/{organizationId}/link-invites",
    operationId: "listOrganizationInviteLinks",
    body: false,
    document: /* GraphQL */ `
      query RestListLinks($organizationId: ID!, $first: Int, $after: String) {
        organization(id: $organizationId) {
          linkInvites(first: $first, after: $after) {
            totalCount
            pageInfo { hasNextPage endCursor }
            edges { node { ...RestLink } }
          }
        }
      }
      ${LINK_FIELDS}`,
    variables: ({ params, query }) => {
      // An empty value (`?limit=`) is no value, not 0.
      const given = Object.fromEntries([...query].filter(([, value]) => value !== ""));
      const q = parseInput(listQuery, given, "query");
      return { organizationId: params.organizationId, first: q.limit, after: q.page };
    },
    reply: (data) => {
      const connection = data.organization.linkInvites;
      const body: Record<string, unknown> = {
        // GitBook lists items as InviteLinkToOrganization (`role` required): a space or collection
        // link carries `role: null` there too (its joiner becomes a guest of the organization).
        // A single link (OrganizationInviteLink, oneOf) must not, or it would match two schemas.
        items: (connection.edges as Array<{ node: GraphQLLink }>).map((e) => {
          const item = restLink(e.node);
          return "role" in item ? item : { ...item, role: null };
        }),
        count: connection.totalCount,
      };
      // `limit=0` (a count alone) has no cursor to go on from: no `next` (GitBook's `page` is a string).
      if (connection.pageInfo.hasNextPage && connection.pageInfo.endCursor) {
        body.next = { page: connection.pageInfo.endCursor };
      }
      return { status: 200, body };
    },
  },
  {
    method: "POST",
    path: "/orgs/{organizationId}/link-invites",
    operationId: "createOrganizationInvite",
    body: true,
    document: /* GraphQL */ `
      mutation RestCreateLink($organizationId: ID!, $input: CreateLinkInviteInput!) {
        result: createLinkInvite(organizationId: $organizationId, input: $input) {
          ... on Error { code message }
          ... on CreateLinkInviteSuccess { linkInvite { ...RestLink } }
        }
      }
      ${LINK_FIELDS}`,
    variables: ({ params, body }) => ({
      organizationId: params.organizationId,
      input: parseInput(createLinkBody, body, "body"),
    }),
    reply: (data) => ({ status: 201, body: restLink(unwrap(data.result).linkInvite) }),
  },
  {
    method: "GET",
    path: "/orgs/{organizationId}/link-invites/{inviteId}",
    operationId: "getOrganizationInviteLink",
    body: false,
    document: /* GraphQL */ `
      query RestGetLink($organizationId: ID!, $inviteId: ID!) {
        organization(id: $organizationId) { linkInvite(id: $inviteId) { ...RestLink } }
      }
      ${LINK_FIELDS}`,
    variables: ({ params }) => ({ organizationId: params.organizationId, inviteId: params.inviteId }),
    reply: (data) => {
      const link = data.organization.linkInvite as GraphQLLink | null;
      if (!link) throw new RestError(404, "No such invite link in this organization", "NOT_FOUND");
      return { status: 200, body: restLink(link) };
    },
  },
  {
    method: "PATCH",
    path: "/orgs/{organizationId}/link-invites/{inviteId}",
    operationId: "updateOrganizationInviteById",
    body: true,
    document: /* GraphQL */ `
      mutation RestUpdateLink($organizationId: ID!, $inviteId: ID!, $input: UpdateLinkInviteInput!) {
        result: updateLinkInvite(organizationId: $organizationId, inviteId: $inviteId, input: $input) {
          ... on Error { code message }
          ... on UpdateLinkInviteSuccess { linkInvite { ...RestLink } }
        }
      }
      ${LINK_FIELDS}`,
    variables: ({ params, body }) => ({
      organizationId: params.organizationId,
      inviteId: params.inviteId,
      input: parseInput(updateLinkBody, body, "body"),
    }),
    reply: (data) => ({ status: 200, body: restLink(unwrap(data.result).linkInvite) }),
  },
  {
    method: "DELETE",
    path: "/orgs/{organizationId}/link-invites/{inviteId}",
    operationId: "deleteOrganizationInviteById",
    body: false,
    document: /* GraphQL */ `
      mutation RestRevokeLink($organizationId: ID!, $inviteId: ID!) {
        result: revokeLinkInvite(organizationId: $organizationId, inviteId: $inviteId) {
          ... on Error { code message }
          ... on RevokeLinkInviteSuccess { existed }
        }
      }`,
    variables: ({ params }) => ({ organizationId: params.organizationId, inviteId: params.inviteId }),
    // GitBook: 205 deleted, 204 did not exist. Here the link is revoked (it stays readable, REVOKED).
    reply: (data) => ({ status: unwrap(data.result).existed ? 205 : 204 }),
  },
  {
    method: "POST",
    path: "/orgs/{organizationId}/join",
    operationId: "joinOrganization",
    body: false,
    document: /* GraphQL */ `
      mutation RestJoinByDomain($organizationId: ID!) {
        result: joinOrganizationByDomain(organizationId: $organizationId) {
          ... on Error { code message }
          ... on JoinOrganizationByDomainSuccess { member { role } }
        }
      }`,
    variables: ({ params }) => ({ organizationId: params.organizationId }),
    reply: (data) => {
      unwrap(data.result);
      return { status: 204 };
    },
  },
  {
    method: "GET",
    path: "/orgs/{organizationId}/members",
    operationId: "listMembersInOrganizationById",
    body: false,
    document: /* GraphQL */ `
      query RestListMembers(
        $organizationId: ID!, $first: Int, $after: String, $role: MemberRole, $search: String, $orderBy: MemberOrder
      ) {
        organization(id: $organizationId) {
          members(first: $first, after: $after, role: $role, search: $search, orderBy: $orderBy) {
            totalCount
            pageInfo { hasNextPage endCursor }
            edges { node { ...RestMember } }
          }
        }
      }
      ${MEMBER_FIELDS}`,
    variables: ({ params, query }) => {
      const q = listParams(memberListQuery, query);
      const order = q.order === "asc" ? "ASC" : "DESC";
      return {
        organizationId: params.organizationId,
        first: q.limit,
        after: q.page,
        ...(q.role ? { role: q.role.toUpperCase() } : {}),
        ...(q.search !== undefined ? { search: q.search } : {}),
        orderBy: q.sort === "name" ? `NAME_${order}` : `JOINED_AT_${order}`,
      };
    },
    reply: (data, context) => {
      const connection = data.organization.members;
      const body: Record<string, unknown> = {
        items: (connection.edges as Array<{ node: GraphQLMember }>).map((e) => restMember(e.node, context)),
        count: connection.totalCount,
      };
      if (connection.pageInfo.hasNextPage && connection.pageInfo.endCursor) {
        body.next = { page: connection.pageInfo.endCursor };
      }
      return { status: 200, body };
    },
  },
  {
    method: "GET",
    path: "/orgs/{organizationId}/members/{userId}",
    operationId: "getMemberInOrganizationById",
    body: false,
    document: /* GraphQL */ `
      query RestGetMember($organizationId: ID!, $userId: ID!) {
        organization(id: $organizationId) { member(userId: $userId) { ...RestMember } }
      }
      ${MEMBER_FIELDS}`,
    variables: ({ params }) => ({ organizationId: params.organizationId, userId: params.userId }),
    reply: (data, context) => {
      const member = data.organization.member as GraphQLMember | null;
      if (!member) throw new RestError(404, "This user is not a member of this organization", "NOT_FOUND");
      return { status: 200, body: restMember(member, context) };
    },
  },
  {
    method: "PATCH",
    path: "/orgs/{organizationId}/members/{userId}",
    operationId: "updateMemberInOrganizationById",
    body: true,
    document: /* GraphQL */ `
      mutation RestUpdateMember($organizationId: ID!, $userId: ID!, $role: MemberRole!) {
        result: updateMemberRole(organizationId: $organizationId, userId: $userId, role: $role) {
          ... on Error { code message }
          ... on UpdateMemberRoleSuccess { member { ...RestMember } }
        }
      }
      ${MEMBER_FIELDS}`,
    variables: ({ params, body }) => ({
      organizationId: params.organizationId,
      userId: params.userId,
      role: toGraphQLRole(parseInput(memberPatchBody, body, "body").role as RestRole),
    }),
    reply: (data, context) => ({ status: 200, body: restMember(unwrap(data.result).member, context) }),
  },
  {
    method: "DELETE",
    path: "/orgs/{organizationId}/members/{userId}",
    operationId: "removeMemberFromOrganizationById",
    body: false,
    // Admins remove anyone; any member may remove themself (leaving).
    document: /* GraphQL */ `
      mutation RestRemoveMember($organizationId: ID!, $userId: ID!) {
        result: removeMember(organizationId: $organizationId, userId: $userId) {
          ... on Error { code message }
          ... on RemoveMemberSuccess { userId }
        }
      }`,
    variables: ({ params }) => ({ organizationId: params.organizationId, userId: params.userId }),
    // GitBook: 205 removed, 204 was not a member. LAST_ADMIN is a 400 as every other error result.
    reply: (data) => {
      if (data.result?.code === "NOT_FOUND") return { status: 204 };
      unwrap(data.result);
      return { status: 205 };
    },
  },
];
