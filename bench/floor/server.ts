/**
 * The floor of the benchmark: the five operations of bench/workloads.ts written by hand on node:http
 * and `pg`, with the service's checks and none of its layers. The same token lookup (SHA-256 of the
 * bearer token in "ApiToken", joined to its user; revoked and expired tokens refused), the same
 * membership and admin checks, the same writes for the invite mutation (row lock, membership check,
 * daily quota, user record, invite, audit event, one transaction), and the same JSON bytes as the
 * service for W0–W4. It recognises the operations by their exact documents (QUERIES); anything else
 * is refused. Its SQL and decisions are in db.ts, shared with the Yoga peers (bench/peers/).
 *
 * Environment: DATABASE_URL, PORT (0: any), HOST, INVITE_TTL_MS, INVITE_RATE_LIMIT, DB_POOL_SIZE.
 * GET /debug/sql-count answers the statements sent so far (BEGIN and COMMIT included).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { PAGE_SIZE, QUERIES } from "../workloads.js";
import {
  AuthFailure,
  dbOptionsFromEnv,
  MESSAGES,
  normalizeEmail,
  openBenchDb,
  type Row,
  serveUntilSigterm,
  type Viewer,
} from "./db.js";

const env = process.env;
const db = openBenchDb(dbOptionsFromEnv(env));

/** What the service's resolvers and rules answer with, written out. */
class GraphQLFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: object,
  ) {
    super("GraphQL failure");
  }
}

const error = (message: string, code: string, path?: Array<string | number>) => ({
  message,
  ...(path ? { path } : {}),
  extensions: { code },
});
const unauthenticated = (message: string) => new GraphQLFailure(401, { errors: [error(message, "UNAUTHENTICATED")] });
const forbidden = (field: string, message: string) =>
  new GraphQLFailure(200, { errors: [error(message, "FORBIDDEN", [field])], data: { [field]: null } });

// ---- Authentication: the same lookup as src/domain/users.ts authenticateToken, in one statement (db.ts).

async function authenticate(header: string | undefined): Promise<Viewer | null> {
  try {
    return await db.authenticate(header);
  } catch (e) {
    if (e instanceof AuthFailure) throw unauthenticated(e.message);
    throw e;
  }
}

function requireViewer(viewer: Viewer | null): Viewer {
  if (!viewer) throw unauthenticated(MESSAGES.signIn);
  return viewer;
}

// ---- The operations.

/** W1, and the check W2 starts with: a member (any role) may read it; FORBIDDEN otherwise. */
async function organization(viewer: Viewer | null, id: unknown, minimum: "member" | "admin") {
  const v = requireViewer(viewer);
  const org = typeof id === "string" ? await db.organizationWithRole(id, v.id) : undefined;
  if (!org?.role) throw forbidden("organization", MESSAGES.member);
  if (minimum === "admin" && org.role !== "ADMIN") throw forbidden("organization", MESSAGES.admin);
  return org;
}

async function w1(viewer: Viewer | null, variables: Row) {
  const org = await organization(viewer, variables.id, "member");
  return { data: { organization: { id: org.id, title: org.title } } };
}

/** W2: the first page of invites, newest first, with the total (a window count: one statement). */
async function w2(viewer: Viewer | null, variables: Row) {
  const org = await organization(viewer, variables.id, "admin");
  const { totalCount, invites } = await db.invitePage(org.id, PAGE_SIZE);
  const parent = { id: org.id, title: org.title };
  const edges = invites.map((invite) => ({ node: { ...invite, organization: parent } }));
  return { data: { organization: { invites: { totalCount, edges } } } };
}

/**
 * W3: `_entities` for Organization representations. Members see them; so do people with a pending
 * invite. Unknown ids are null; denied ones are null with a FORBIDDEN error, as in the service.
 */
async function w3(viewer: Viewer | null, variables: Row) {
  const representations = Array.isArray(variables.r) ? (variables.r as Row[]) : [];
  if (representations.length > 1000) {
    return { errors: [error(MESSAGES.tooManyRepresentations, "BAD_USER_INPUT", ["_entities"])] };
  }
  const v = requireViewer(viewer);
  const ids = representations.map((r) => (r?.__typename === "Organization" && typeof r.id === "string" ? r.id : ""));
  const found = await db.organizationEntities(ids, v.id);
  const errors: object[] = [];
  const entities = found.map((org, i) => {
    if (!org) return null;
    if (!org.visible) {
      errors.push(error(MESSAGES.entity, "FORBIDDEN", ["_entities", i, "title"]));
      return null;
    }
    return { id: org.id, title: org.title };
  });
  return errors.length ? { errors, data: { _entities: entities } } : { data: { _entities: entities } };
}

/**
 * W4: invite one email with the default role (READ), as src/domain/invites.ts inviteUsers does for
 * one email (db.ts inviteEmail: one transaction).
 */
async function w4(viewer: Viewer | null, variables: Row) {
  const v = requireViewer(viewer);
  const organizationId = String(variables.org);
  if ((await db.memberRole(organizationId, v.id)) !== "ADMIN") {
    throw forbidden("inviteUsersToOrganization", MESSAGES.admin);
  }
  const email = normalizeEmail(String(variables.email));
  if (email === null) {
    return mutationResult({ __typename: "ValidationError", code: "VALIDATION", message: MESSAGES.invalidEmail });
  }
  return mutationResult(await db.inviteEmail(v, organizationId, email));
}

const mutationResult = (result: object) => ({ data: { inviteUsersToOrganization: result } });

type Operation = (viewer: Viewer | null, variables: Row) => Promise<object>;
const OPERATIONS = new Map<string, Operation>([
  [QUERIES.W0, async () => ({ data: { __typename: "Query" } })],
  [QUERIES.W1, w1],
  [QUERIES.W2, w2],
  [QUERIES.W3, w3],
  [QUERIES.W4, w4],
]);

// ---- HTTP.

const HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-resource-policy": "same-origin",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
};

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...HEADERS, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1_000_000)
        reject(new GraphQLFailure(413, { errors: [error("Request body too large", "BAD_REQUEST")] }));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function handleGraphQL(req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const { query, variables } = JSON.parse(await readBody(req)) as { query?: string; variables?: Row };
    const operation = typeof query === "string" ? OPERATIONS.get(query) : undefined;
    if (!operation) {
      return send(res, 400, { errors: [error("The floor only knows the benchmark's operations", "BAD_REQUEST")] });
    }
    const viewer = await authenticate(req.headers.authorization);
    send(res, 200, await operation(viewer, variables ?? {}));
  } catch (e) {
    if (e instanceof GraphQLFailure) return send(res, e.status, e.body);
    if (e instanceof SyntaxError) return send(res, 400, { errors: [error("Invalid JSON body", "BAD_REQUEST")] });
    process.stderr.write(`floor: ${e instanceof Error ? e.stack : String(e)}\n`);
    send(res, 200, { errors: [{ message: "Unexpected error." }], data: null });
  }
}

const server = createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method === "POST" && path === "/graphql") return void handleGraphQL(req, res);
  if (req.method === "GET" && path === "/health") return send(res, 200, { status: "ok" });
  if (req.method === "GET" && path === "/debug/sql-count") return send(res, 200, { count: db.sqlCount });
  send(res, 404, { error: "not found" });
});

serveUntilSigterm(server, "floor", db, env);
