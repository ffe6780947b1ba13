/**
 * A peer of the benchmark: what the service's operations cost when written the common way, a
 * graphql-yoga 5 server with an SDL schema (`createSchema`) and hand-written resolvers on `pg`. It
 * holds the part of the service's schema that the workloads of bench/workloads.ts use (`organization`,
 * `Organization.invites`, `_entities` for organizations, `inviteUsersToOrganization` for emails) and
 * runs every document of that part, not only the benchmark's. Its SQL, token lookup and decisions are
 * the floor's (bench/floor/db.ts): one token lookup per request in the context, the membership check
 * and the organization in one statement, the invite page and its total in one, `_entities` in one
 * (two when the viewer is not a member of some), the invite in one transaction. Its answers are the
 * service's, byte for byte (the runner checks them).
 *
 * With PEER_JIT=1 it runs the same schema through graphql-jit (`@envelop/graphql-jit`): the
 * "yoga-jit" target of `npm run bench`.
 *
 * Environment: the floor's (DATABASE_URL, PORT, HOST, INVITE_TTL_MS, INVITE_RATE_LIMIT, DB_POOL_SIZE)
 * and PEER_JIT. GET /health is Yoga's; GET /debug/sql-count answers the statements sent so far.
 */
import { createServer } from "node:http";
import { useGraphQlJit } from "@envelop/graphql-jit";
import { GraphQLError } from "graphql";
import { createSchema, createYoga, type Plugin } from "graphql-yoga";
import {
  AuthFailure,
  dbOptionsFromEnv,
  type InviteRow,
  MESSAGES,
  normalizeEmail,
  type OrganizationRow,
  openBenchDb,
  type Row,
  serveUntilSigterm,
  type Viewer,
} from "../../floor/db.js";

const env = process.env;
const jit = env.PEER_JIT === "1";
const db = openBenchDb(dbOptionsFromEnv(env));

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const MAX_REPRESENTATIONS = 1000;

const typeDefs = /* GraphQL */ `
  scalar _Any
  union _Entity = Organization

  enum MemberRole { ADMIN CREATE EDIT REVIEW COMMENT READ GUEST }
  enum InviteStatus { PENDING ACCEPTED REVOKED EXPIRED }
  enum ErrorCode {
    VALIDATION NOT_FOUND ALREADY_MEMBER INVITE_EXPIRED INVITE_REVOKED INVITE_USED_UP
    INVITE_ALREADY_ACCEPTED INVITE_EMAIL_MISMATCH DOMAIN_NOT_ALLOWED RATE_LIMITED LAST_ADMIN
  }

  type Query {
    "An organization the viewer is a member of (FORBIDDEN otherwise, whether or not it exists)."
    organization(id: ID!): Organization
    _entities(representations: [_Any!]!): [_Entity]!
  }

  type Organization {
    id: ID!
    title: String!
    "Email invites, newest first. Admins only."
    invites(first: Int): InviteConnection!
  }

  type InviteConnection {
    edges: [InviteEdge!]!
    totalCount: Int!
  }

  type InviteEdge {
    node: Invite!
  }

  type Invite {
    id: ID!
    organization: Organization!
    email: String!
    role: MemberRole!
    status: InviteStatus!
  }

  type Mutation {
    "Admins. One email per call here (the benchmark's case)."
    inviteUsersToOrganization(organizationId: ID!, input: InviteUsersToOrganizationInput!): InviteUsersToOrganizationResult!
  }

  input InviteUsersToOrganizationInput {
    emails: [String!]
  }

  union InviteUsersToOrganizationResult = ValidationError | RateLimitedError | InviteUsersToOrganizationSuccess

  interface Error {
    message: String!
    code: ErrorCode!
  }

  type ValidationIssue {
    path: [String!]!
    message: String!
  }

  type ValidationError implements Error {
    message: String!
    code: ErrorCode!
    issues: [ValidationIssue!]!
  }

  type RateLimitedError implements Error {
    message: String!
    code: ErrorCode!
  }

  type InviteUsersToOrganizationSuccess {
    invited: Int!
    failedSSOEmails: [String!]!
    invites: [Invite!]!
    alreadyMembers: [String!]!
  }
`;

interface Context {
  viewer: Viewer | null;
}

/** An organization as the resolvers pass it down: `visible` false for an `_entities` one the viewer may not see. */
interface OrganizationValue {
  id: string;
  title: string;
  role?: string | null;
  visible?: boolean;
}

/** An invite with its organization: given when known (the invite page), else looked up by id. */
type InviteValue = InviteRow & { organization?: OrganizationValue; organizationId?: string };

const coded = (message: string, code: string, status?: number) =>
  new GraphQLError(message, { extensions: status ? { code, http: { status } } : { code } });

function requireViewer(ctx: Context): Viewer {
  if (!ctx.viewer) throw coded(MESSAGES.signIn, "UNAUTHENTICATED");
  return ctx.viewer;
}

const resolvers = {
  _Any: {
    // The representations as they are: objects with __typename and the key.
    serialize: (value: unknown) => value,
    parseValue: (value: unknown) => value,
  },
  _Entity: { __resolveType: () => "Organization" },
  InviteUsersToOrganizationResult: { __resolveType: (value: { __typename: string }) => value.__typename },
  Error: { __resolveType: (value: { __typename: string }) => value.__typename },

  Query: {
    async organization(_: unknown, args: { id: string }, ctx: Context): Promise<OrganizationValue> {
      const viewer = requireViewer(ctx);
      const org = await db.organizationWithRole(args.id, viewer.id);
      if (!org?.role) throw coded(MESSAGES.member, "FORBIDDEN");
      return org;
    },
    async _entities(_: unknown, args: { representations: Row[] }, ctx: Context) {
      if (args.representations.length > MAX_REPRESENTATIONS) {
        throw coded(MESSAGES.tooManyRepresentations, "BAD_USER_INPUT");
      }
      const viewer = requireViewer(ctx);
      const ids = args.representations.map((r) =>
        r?.__typename === "Organization" && typeof r.id === "string" ? r.id : "",
      );
      return db.organizationEntities(ids, viewer.id);
    },
  },

  Organization: {
    title(org: OrganizationValue) {
      if (org.visible === false) throw coded(MESSAGES.entity, "FORBIDDEN");
      return org.title;
    },
    async invites(org: OrganizationValue, args: { first?: number | null }) {
      if (org.role !== "ADMIN") throw coded(MESSAGES.admin, "FORBIDDEN");
      const first = args.first ?? DEFAULT_PAGE_SIZE;
      if (first < 0 || first > MAX_PAGE_SIZE)
        throw coded(`first must be between 0 and ${MAX_PAGE_SIZE}`, "BAD_USER_INPUT");
      const { totalCount, invites } = await db.invitePage(org.id, first);
      const parent = { id: org.id, title: org.title, role: org.role };
      return { totalCount, edges: invites.map((invite) => ({ node: { ...invite, organization: parent } })) };
    },
  },

  Invite: {
    async organization(invite: InviteValue, _: unknown, ctx: Context): Promise<OrganizationRow> {
      if (invite.organization) return invite.organization as OrganizationRow;
      // An invite the viewer just made (it is an admin there): its organization by id.
      const org = await db.organizationWithRole(invite.organizationId as string, requireViewer(ctx).id);
      if (!org) throw new Error(`organization ${invite.organizationId} is gone`);
      return org;
    },
  },

  Mutation: {
    async inviteUsersToOrganization(
      _: unknown,
      args: { organizationId: string; input: { emails?: string[] | null } },
      ctx: Context,
    ) {
      const viewer = requireViewer(ctx);
      if ((await db.memberRole(args.organizationId, viewer.id)) !== "ADMIN") throw coded(MESSAGES.admin, "FORBIDDEN");
      const emails = args.input.emails ?? [];
      if (emails.length !== 1) {
        const message = "input.emails: this peer invites exactly one email per call";
        return { __typename: "ValidationError", code: "VALIDATION", message, issues: [] };
      }
      const email = normalizeEmail(emails[0] as string);
      if (email === null) {
        return {
          __typename: "ValidationError",
          code: "VALIDATION",
          message: MESSAGES.invalidEmail,
          issues: [{ path: ["input", "emails", "0"], message: "Invalid email address" }],
        };
      }
      const result = await db.inviteEmail(viewer, args.organizationId, email);
      if (result.__typename !== "InviteUsersToOrganizationSuccess") return result;
      const invites: InviteValue[] = result.invites.map((i) => ({ ...i, organizationId: args.organizationId }));
      return { ...result, invites, failedSSOEmails: [] };
    },
  },
};

/** GET /debug/sql-count, as the floor answers it. */
const sqlCountEndpoint: Plugin = {
  onRequest({ url, endResponse, fetchAPI }) {
    if (url.pathname === "/debug/sql-count") endResponse(fetchAPI.Response.json({ count: db.sqlCount }));
  },
};

const yoga = createYoga<object, Context>({
  schema: createSchema<Context>({ typeDefs, resolvers }),
  graphiql: false,
  landingPage: false,
  logging: "warn",
  plugins: [sqlCountEndpoint, ...(jit ? [useGraphQlJit()] : [])],
  // The token lookup, once per request (the floor's and the service's place for it).
  async context({ request }) {
    try {
      return { viewer: await db.authenticate(request.headers.get("authorization")) };
    } catch (e) {
      if (e instanceof AuthFailure) throw coded(e.message, "UNAUTHENTICATED", 401);
      throw e;
    }
  },
});

const server = createServer(yoga);

serveUntilSigterm(server, `yoga-${jit ? "jit" : "sdl"} peer`, db, env);
