/**
 * The five benchmark workloads of issue 6: the GraphQL documents, what each sends, and what a
 * correct answer looks like. Shared by the runner (bench/run.ts) and the floor (bench/floor/server.ts),
 * which recognises the operations by these exact documents.
 */

export type WorkloadId = "W0" | "W1" | "W2" | "W3" | "W4";

/** What the seed left behind: the bench admin, its organizations and the invites of the first one. */
export interface Seeded {
  token: string;
  adminId: string;
  /** 50 organizations the admin administers, in creation order; `titles[i]` belongs to `orgIds[i]`. */
  orgIds: string[];
  titles: string[];
  /** The 60 pending invites of orgIds[0]. */
  inviteIds: string[];
  inviteEmails: string[];
}

export interface GraphQLBody {
  query: string;
  variables: Record<string, unknown>;
}

export const ORG_COUNT = 50;
export const INVITE_COUNT = 60;
export const PAGE_SIZE = 50;
export const ENTITY_COUNT = 50;
/** In W4 bodies, replaced by a fresh email for each request (by wrk's Lua script, or by the runner). */
export const EMAIL_PLACEHOLDER = "__EMAIL__";

export const QUERIES = {
  W0: "{ __typename }",
  W1: "query W1($id: ID!) { organization(id: $id) { id title } }",
  W2:
    "query W2($id: ID!) { organization(id: $id) { invites(first: 50) { totalCount " +
    "edges { node { id email role status organization { id title } } } } } }",
  W3: "query W3($r: [_Any!]!) { _entities(representations: $r) { ... on Organization { id title } } }",
  W4:
    "mutation W4($org: ID!, $email: String!) { inviteUsersToOrganization(organizationId: $org, " +
    "input: { emails: [$email] }) { __typename ... on InviteUsersToOrganizationSuccess { invited alreadyMembers " +
    "invites { id email role status } } ... on Error { code message } } }",
} as const satisfies Record<WorkloadId, string>;

export interface Workload {
  id: WorkloadId;
  title: string;
  /** The request body; W4's carries EMAIL_PLACEHOLDER where the fresh email goes. */
  body(seed: Seeded): GraphQLBody;
  /** A substring every response body of the timed run must contain (checked by wrk's Lua script). */
  marker(seed: Seeded): string;
  /** What is wrong with a response body (empty: correct). `email` is the one W4 was sent. */
  check(json: unknown, seed: Seeded, email: string): string[];
  /**
   * The body with what differs from one request to the next (W4's new invite id and email) masked,
   * so that the service's and the floor's answers can be compared byte for byte.
   */
  normalize?(text: string, email: string): string;
}

function orgTitle(seed: Seeded, index: number) {
  return { id: seed.orgIds[index] as string, title: seed.titles[index] as string };
}

/** Deep equality with a list of differences (paths), for readable failures. */
export function differences(actual: unknown, expected: unknown, path = "$"): string[] {
  if (typeof expected !== "object" || expected === null) {
    return Object.is(actual, expected)
      ? []
      : [`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
  }
  if (typeof actual !== "object" || actual === null || Array.isArray(actual) !== Array.isArray(expected)) {
    return [
      `${path}: expected ${JSON.stringify(expected).slice(0, 200)}, got ${JSON.stringify(actual)?.slice(0, 200)}`,
    ];
  }
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  const keys = Object.keys(e);
  if (JSON.stringify(Object.keys(a)) !== JSON.stringify(keys)) {
    return [`${path}: expected keys ${keys.join(",")}, got ${Object.keys(a).join(",")}`];
  }
  return keys.flatMap((k) => differences(a[k], e[k], `${path}.${k}`));
}

const INVITE_ID = /^[A-Za-z0-9_-]{22}$/;

export const WORKLOADS: Workload[] = [
  {
    id: "W0",
    title: "{ __typename }",
    body: () => ({ query: QUERIES.W0, variables: {} }),
    marker: () => '{"data":{"__typename":"Query"}}',
    check: (json) => differences(json, { data: { __typename: "Query" } }),
  },
  {
    id: "W1",
    title: "organization(id) { id title }",
    body: (seed) => ({ query: QUERIES.W1, variables: { id: seed.orgIds[0] } }),
    marker: (seed) => `"title":${JSON.stringify(seed.titles[0])}`,
    check: (json, seed) => differences(json, { data: { organization: orgTitle(seed, 0) } }),
  },
  {
    id: "W2",
    title: `organization(id) { invites(first: ${PAGE_SIZE}) { totalCount edges { node { … organization } } } }`,
    body: (seed) => ({ query: QUERIES.W2, variables: { id: seed.orgIds[0] } }),
    marker: () => `"totalCount":${INVITE_COUNT},`,
    check(json, seed) {
      const edges = (json as any)?.data?.organization?.invites?.edges;
      if (!Array.isArray(edges)) return [`no edges in ${JSON.stringify(json).slice(0, 300)}`];
      // Newest first: the 60 invites were made by one statement (one createdAt), so the order is
      // by id as PostgreSQL's collation sorts them; which 50 come first is checked against the floor.
      const byId = new Map(seed.inviteIds.map((id, i) => [id, seed.inviteEmails[i]]));
      const expected = edges.map((edge: any) => ({
        node: {
          id: byId.has(edge?.node?.id) ? edge.node.id : "<one of the seeded invites>",
          email: byId.get(edge?.node?.id) ?? "<its email>",
          role: "READ",
          status: "PENDING",
          organization: orgTitle(seed, 0),
        },
      }));
      const problems = differences(json, {
        data: { organization: { invites: { totalCount: INVITE_COUNT, edges: expected } } },
      });
      if (edges.length !== PAGE_SIZE) problems.push(`expected ${PAGE_SIZE} edges, got ${edges.length}`);
      if (new Set(edges.map((e: any) => e?.node?.id)).size !== edges.length) problems.push("duplicate invites");
      return problems;
    },
  },
  {
    id: "W3",
    title: `_entities(${ENTITY_COUNT} Organization representations) { id title }`,
    body: (seed) => ({
      query: QUERIES.W3,
      variables: { r: seed.orgIds.slice(0, ENTITY_COUNT).map((id) => ({ __typename: "Organization", id })) },
    }),
    marker: (seed) => `"title":${JSON.stringify(seed.titles[ENTITY_COUNT - 1])}}]}}`,
    check: (json, seed) =>
      differences(json, {
        data: { _entities: seed.orgIds.slice(0, ENTITY_COUNT).map((_id, i) => orgTitle(seed, i)) },
      }),
  },
  {
    id: "W4",
    title: "inviteUsersToOrganization (a fresh email per request)",
    // Into the second organization: the first one's 60 invites (W2) stay as they are.
    body: (seed) => ({ query: QUERIES.W4, variables: { org: seed.orgIds[1], email: EMAIL_PLACEHOLDER } }),
    marker: () => '"__typename":"InviteUsersToOrganizationSuccess","invited":1,',
    check(json, _seed, email) {
      const id = (json as any)?.data?.inviteUsersToOrganization?.invites?.[0]?.id;
      return differences(json, {
        data: {
          inviteUsersToOrganization: {
            __typename: "InviteUsersToOrganizationSuccess",
            invited: 1,
            alreadyMembers: [],
            invites: [
              {
                id: typeof id === "string" && INVITE_ID.test(id) ? id : "<22 base64url chars>",
                email,
                role: "READ",
                status: "PENDING",
              },
            ],
          },
        },
      });
    },
    normalize: (text, email) => text.replace(/"id":"[A-Za-z0-9_-]{22}"/, '"id":"<id>"').replace(email, "<email>"),
  },
];
