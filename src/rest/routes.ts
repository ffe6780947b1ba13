import { z } from "zod";

/**
 * The REST twin's route table: GitBook's "Organization invites" operations at their paths (under
 * /v1), each one a fixed GraphQL document run through the same Yoga instance (src/rest/handler.ts),
 * so the same context, shield rules, limits and domain functions answer both. A route only
 * translates: GitBook's request into variables, the GraphQL answer into GitBook's JSON shape.
 */

const REST_ROLES = ["admin", "create", "edit", "review", "comment", "read"] as const;
/** GitBook's MemberRoleOrGuest: a lower-case role, or null for a guest. */
const restRole = z.enum(REST_ROLES).nullable();
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
  reply(data: GraphQLData): RestReply;
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

/** zod for a body or query; a failure is a 400 naming the first problem. */
function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
  throw new RestError(400, `Invalid ${what}: ${where}${issue?.message ?? "invalid"}`, "VALIDATION");
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
const linkOptions = { expiresAt: z.iso.datetime({ offset: true }).optional(), maxUses: z.number().int().optional() };

const inviteUsersBody = z.object({
  emails: z.array(z.union([z.string(), z.object({ email: z.string(), role: restRole })])),
  role: restRole.optional(),
  sso: z.boolean().optional(),
});

const createLinkBody = z.union([
  z.object({ level: restRole, space: z.string(), ...linkOptions }),
  z.object({ level: restRole, collection: z.string(), ...linkOptions }),
  z.object({ role: restRole, ...linkOptions }),
]);

const updateLinkBody = z.union([
  z.object({ role: restRole, ...linkOptions }),
  z.object({ level: restRole, ...linkOptions }),
]);

const listQuery = z.object({
  page: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(0).max(1000).optional(),
});

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
      if (connection.pageInfo.hasNextPage) body.next = { page: connection.pageInfo.endCursor };
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
    variables: ({ params, body }) => {
      const b = parseInput(createLinkBody, body, "body");
      const options = { expiresAt: b.expiresAt, maxUses: b.maxUses };
      const input =
        "space" in b
          ? { kind: "SPACE", role: toGraphQLRole(b.level), spaceId: b.space, ...options }
          : "collection" in b
            ? { kind: "COLLECTION", role: toGraphQLRole(b.level), collectionId: b.collection, ...options }
            : { kind: "ORGANIZATION", role: toGraphQLRole(b.role), ...options };
      return { organizationId: params.organizationId, input };
    },
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
    variables: ({ params, body }) => {
      const b = parseInput(updateLinkBody, body, "body");
      const role = "role" in b ? b.role : b.level;
      return {
        organizationId: params.organizationId,
        inviteId: params.inviteId,
        input: { role: toGraphQLRole(role), expiresAt: b.expiresAt, maxUses: b.maxUses },
      };
    },
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
];
