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

const inviteUsersBody = z
  .object(
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
  )
  .transform((input) => ({
    emails: input.emails.filter((e): e is string => typeof e === "string"),
    invitees: input.emails
      .filter((e): e is { email: string; role: RestRole } => typeof e !== "string")
      .map((e) => ({ email: e.email, role: toGraphQLRole(e.role) })),
    ...(input.role !== undefined ? { role: toGraphQLRole(input.role) } : {}),
    ...(input.sso !== undefined ? { sso: input.sso } : {}),
  }));

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
  .refine((b) => b.role !== undefined, { error: `give role: ${ROLE_VALUES}` })
  .transform((b) => toGraphQLRole(b.role as RestRole));

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

/** The parameters of an OpenAPI path template, in order (`/orgs/{organizationId}/members/{userId}`). */
function pathParams(path: string): string[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
}

/** `$name: Type` declarations and `name: $name` arguments of a field, from `{ name: "Type" }`. */
function graphqlArgs(types: Record<string, string>): { declared: string; passed: string } {
  const names = Object.keys(types);
  return {
    declared: names.map((name) => `$${name}: ${types[name]}`).join(", "),
    passed: names.map((name) => `${name}: $${name}`).join(", "),
  };
}

interface MutationRoute {
  method: Route["method"];
  path: string;
  operationId: string;
  /** The GraphQL operation's name (metrics and logs name it). */
  operation: string;
  /** The mutation field; its arguments are the path's parameters (IDs), then those of `input`. */
  field: string;
  /** What it selects of the success type (`<Field>Success`), e.g. `member { role }`. */
  success: string;
  /** The argument read from the JSON body: its name, GraphQL type, and the zod schema translating it. */
  input?: { name: string; type: string; schema: z.ZodType };
  /** GitBook's answer to the success payload. */
  reply(success: GraphQLData, context: ReplyContext): RestReply;
  /** GitBook's answer to a NOT_FOUND result, when it is not an error (a DELETE of nothing). */
  notFound?: RestReply;
}

/** A route running one mutation: path parameters and body in, its `<Name>Result` out (unwrapped). */
function mutationRoute(spec: MutationRoute): Route {
  const params = pathParams(spec.path);
  const { declared, passed } = graphqlArgs({
    ...Object.fromEntries(params.map((name) => [name, "ID!"])),
    ...(spec.input ? { [spec.input.name]: spec.input.type } : {}),
  });
  return {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    body: spec.input !== undefined,
    document: withFragments(/* GraphQL */ `
      mutation ${spec.operation}(${declared}) {
        result: ${spec.field}(${passed}) {
          ... on Error { code message }
          ... on ${spec.field.charAt(0).toUpperCase()}${spec.field.slice(1)}Success { ${spec.success} }
        }
      }`),
    variables: (call) => ({
      ...Object.fromEntries(params.map((name) => [name, call.params[name]])),
      ...(spec.input ? { [spec.input.name]: parseInput(spec.input.schema, call.body, "body") } : {}),
    }),
    reply: (data, context) => {
      if (spec.notFound && data.result?.code === "NOT_FOUND") return spec.notFound;
      return spec.reply(unwrap(data.result), context);
    },
  };
}

/** A GET route (no body) of `spec.path`, answering a query. */
function readRoute(
  spec: { path: string; operationId: string },
  query: Pick<Route, "document" | "variables" | "reply">,
): Route {
  return { method: "GET", path: spec.path, operationId: spec.operationId, body: false, ...query };
}

/** A mutation of one invite link (create, update): the JSON body is its `input`; GitBook answers the link. */
function linkMutation(
  spec: Pick<MutationRoute, "method" | "path" | "operationId" | "operation" | "field"> & {
    input: { type: string; schema: z.ZodType };
    status: 200 | 201;
  },
): Route {
  return mutationRoute({
    ...spec,
    success: "linkInvite { ...RestLink }",
    input: { name: "input", ...spec.input },
    reply: (r) => ({ status: spec.status, body: restLink(r.linkInvite) }),
  });
}

/** A route reading one organization's item by id: `organization(id) { <field>(<arg>: <param>) }`; null is a 404. */
function itemRoute<Node>(spec: {
  path: string;
  operationId: string;
  operation: string;
  /** The field, its argument and the path parameter giving it, e.g. `linkInvite(id: $inviteId)`. */
  field: string;
  argument: string;
  param: string;
  /** The fragment (FRAGMENTS) it selects of the item. */
  fragment: string;
  notFound: string;
  item(node: Node, context: ReplyContext): Record<string, unknown>;
}): Route {
  return readRoute(spec, {
    document: withFragments(/* GraphQL */ `
      query ${spec.operation}($organizationId: ID!, $${spec.param}: ID!) {
        organization(id: $organizationId) { ${spec.field}(${spec.argument}: $${spec.param}) { ...${spec.fragment} } }
      }`),
    variables: ({ params }) => ({ organizationId: params.organizationId, [spec.param]: params[spec.param] }),
    reply: (data, context) => {
      const node = data.organization[spec.field] as Node | null;
      if (!node) throw new RestError(404, spec.notFound, "NOT_FOUND");
      return { status: 200, body: spec.item(node, context) };
    },
  });
}

/**
 * A route listing one organization's connection, GitBook's way: `?page=&limit=` (and the filters of
 * `query`) in, `{ items, count, next: { page } }` out.
 */
function listRoute<Q extends z.ZodType<{ page?: string; limit?: number }>, Node>(spec: {
  path: string;
  operationId: string;
  operation: string;
  field: string;
  /** The fragment (FRAGMENTS) it selects of each node. */
  fragment: string;
  query: Q;
  /** The connection's filters, with their GraphQL types, and their values from the query. */
  filters?: { types: Record<string, string>; values(query: z.output<Q>): Record<string, unknown> };
  item(node: Node, context: ReplyContext): Record<string, unknown>;
}): Route {
  const { declared, passed } = graphqlArgs({ first: "Int", after: "String", ...spec.filters?.types });
  return readRoute(spec, {
    document: withFragments(/* GraphQL */ `
      query ${spec.operation}($organizationId: ID!, ${declared}) {
        organization(id: $organizationId) {
          ${spec.field}(${passed}) {
            totalCount
            pageInfo { hasNextPage endCursor }
            edges { node { ...${spec.fragment} } }
          }
        }
      }`),
    variables: ({ params, query }) => {
      const q = listParams(spec.query, query);
      return { organizationId: params.organizationId, first: q.limit, after: q.page, ...spec.filters?.values(q) };
    },
    reply: (data, context) => {
      const connection = data.organization[spec.field];
      const body: Record<string, unknown> = {
        items: (connection.edges as Array<{ node: Node }>).map((e) => spec.item(e.node, context)),
        count: connection.totalCount,
      };
      // `limit=0` (a count alone) has no cursor to go on from: no `next` (GitBook's `page` is a string).
      if (connection.pageInfo.hasNextPage && connection.pageInfo.endCursor) {
        body.next = { page: connection.pageInfo.endCursor };
      }
      return { status: 200, body };
    },
  });
}

/** The fragments the routes' documents select their items with, by name. */
const FRAGMENTS: Record<string, string> = { RestLink: LINK_FIELDS, RestMember: MEMBER_FIELDS };

/** `document` followed by each fragment it spreads. */
function withFragments(document: string): string {
  const used = Object.keys(FRAGMENTS).filter((name) => document.includes(`...${name}`));
  return [document, ...used.map((name) => FRAGMENTS[name])].join("\n");
}

export const routes: Route[] = [
  mutationRoute({
    method: "POST",
    path: "/orgs/{organizationId}/invites",
    operationId: "inviteUsersToOrganization",
    operation: "RestInviteUsers",
    field: "inviteUsersToOrganization",
    success: "users { id } invited failedSSOEmails",
    input: { name: "input", type: "InviteUsersToOrganizationInput!", schema: inviteUsersBody },
    reply: (r) => {
      const users = (r.users as Array<{ id: string }>).map((u) => u.id);
      return { status: 200, body: { users, invited: r.invited, failedSSOEmails: r.failedSSOEmails } };
    },
  }),
  mutationRoute({
    method: "POST",
    path: "/orgs/{organizationId}/invites/{inviteId}",
    operationId: "joinOrganizationWithInvite",
    operation: "RestJoinWithInvite",
    field: "joinOrganizationWithInvite",
    success: "member { role }",
    reply: () => ({ status: 200, body: {} }),
  }),
  listRoute({
    path: "/orgs/{organizationId}/link-invites",
    operationId: "listOrganizationInviteLinks",
    operation: "RestListLinks",
    field: "linkInvites",
    fragment: "RestLink",
    query: listQuery,
    // GitBook lists items as InviteLinkToOrganization (`role` required): a space or collection
    // link carries `role: null` there too (its joiner becomes a guest of the organization).
    // A single link (OrganizationInviteLink, oneOf) must not, or it would match two schemas.
    item: (node: GraphQLLink) => {
      const item = restLink(node);
      return "role" in item ? item : { ...item, role: null };
    },
  }),
  linkMutation({
    method: "POST",
    path: "/orgs/{organizationId}/link-invites",
    operationId: "createOrganizationInvite",
    operation: "RestCreateLink",
    field: "createLinkInvite",
    input: { type: "CreateLinkInviteInput!", schema: createLinkBody },
    status: 201,
  }),
  itemRoute({
    path: "/orgs/{organizationId}/link-invites/{inviteId}",
    operationId: "getOrganizationInviteLink",
    operation: "RestGetLink",
    field: "linkInvite",
    argument: "id",
    param: "inviteId",
    fragment: "RestLink",
    notFound: "No such invite link in this organization",
    item: restLink,
  }),
  linkMutation({
    method: "PATCH",
    path: "/orgs/{organizationId}/link-invites/{inviteId}",
    operationId: "updateOrganizationInviteById",
    operation: "RestUpdateLink",
    field: "updateLinkInvite",
    input: { type: "UpdateLinkInviteInput!", schema: updateLinkBody },
    status: 200,
  }),
  mutationRoute({
    method: "DELETE",
    path: "/orgs/{organizationId}/link-invites/{inviteId}",
    operationId: "deleteOrganizationInviteById",
    operation: "RestRevokeLink",
    field: "revokeLinkInvite",
    success: "existed",
    // GitBook: 205 deleted, 204 did not exist. Here the link is revoked (it stays readable, REVOKED).
    reply: (r) => ({ status: r.existed ? 205 : 204 }),
  }),
  mutationRoute({
    method: "POST",
    path: "/orgs/{organizationId}/join",
    operationId: "joinOrganization",
    operation: "RestJoinByDomain",
    field: "joinOrganizationByDomain",
    success: "member { role }",
    reply: () => ({ status: 204 }),
  }),
  listRoute({
    path: "/orgs/{organizationId}/members",
    operationId: "listMembersInOrganizationById",
    operation: "RestListMembers",
    field: "members",
    fragment: "RestMember",
    query: memberListQuery,
    filters: {
      types: { role: "MemberRole", search: "String", orderBy: "MemberOrder" },
      values: (q) => {
        const order = q.order === "asc" ? "ASC" : "DESC";
        return {
          ...(q.role ? { role: q.role.toUpperCase() } : {}),
          ...(q.search !== undefined ? { search: q.search } : {}),
          orderBy: q.sort === "name" ? `NAME_${order}` : `JOINED_AT_${order}`,
        };
      },
    },
    item: restMember,
  }),
  itemRoute({
    path: "/orgs/{organizationId}/members/{userId}",
    operationId: "getMemberInOrganizationById",
    operation: "RestGetMember",
    field: "member",
    argument: "userId",
    param: "userId",
    fragment: "RestMember",
    notFound: "This user is not a member of this organization",
    item: restMember,
  }),
  mutationRoute({
    method: "PATCH",
    path: "/orgs/{organizationId}/members/{userId}",
    operationId: "updateMemberInOrganizationById",
    operation: "RestUpdateMember",
    field: "updateMemberRole",
    success: "member { ...RestMember }",
    input: { name: "role", type: "MemberRole!", schema: memberPatchBody },
    reply: (r, context) => ({ status: 200, body: restMember(r.member, context) }),
  }),
  // Admins remove anyone; any member may remove themself (leaving).
  mutationRoute({
    method: "DELETE",
    path: "/orgs/{organizationId}/members/{userId}",
    operationId: "removeMemberFromOrganizationById",
    operation: "RestRemoveMember",
    field: "removeMember",
    success: "userId",
    // GitBook: 205 removed, 204 was not a member. LAST_ADMIN is a 400 as every other error result.
    notFound: { status: 204 },
    reply: () => ({ status: 205 }),
  }),
];
