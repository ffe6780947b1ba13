/**
 * The floor of the benchmark: the five operations of bench/workloads.ts written by hand on node:http
 * and `pg`, with the service's checks and none of its layers. The same token lookup (SHA-256 of the
 * bearer token in "ApiToken", joined to its user; revoked and expired tokens refused), the same
 * membership and admin checks, the same writes for the invite mutation (row lock, membership check,
 * daily quota, user record, invite, audit event, one transaction), and the same JSON bytes as the
 * service for W0–W4. It recognises the operations by their exact documents (QUERIES); anything else
 * is refused.
 *
 * Environment: DATABASE_URL, PORT (0: any), HOST, INVITE_TTL_MS, INVITE_RATE_LIMIT, DB_POOL_SIZE.
 * GET /debug/sql-count answers the statements sent so far (BEGIN and COMMIT included).
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { PAGE_SIZE, QUERIES } from "../workloads.js";

const env = process.env;
const ttlMs = Number(env.INVITE_TTL_MS ?? 7 * 86_400_000);
const dailyLimit = Number(env.INVITE_RATE_LIMIT ?? 1000);
const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: Number(env.DB_POOL_SIZE ?? 10) });

let sqlCount = 0;
type Db = pg.Pool | pg.PoolClient;
type Row = Record<string, any>;

// TIMESTAMP(3) columns hold UTC wall time (as Prisma writes them): times are sent as UTC ISO strings
// cast to ::timestamp (PostgreSQL ignores the "Z"), and compared in SQL.

/** Every statement goes through here: named (prepared once per connection) when it has a name. */
async function sql(db: Db, name: string, text: string, values: unknown[] = []): Promise<Row[]> {
  sqlCount++;
  const result = await db.query(name ? { name, text, values } : { text, values });
  return result.rows;
}

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

// ---- Authentication: the same lookup as src/domain/users.ts authenticateToken, in one statement.

interface Viewer {
  id: string;
  email: string | null;
  tokenId: string;
}

const sha256Hex = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

function secretsEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

async function authenticate(header: string | undefined): Promise<Viewer | null> {
  if (header === undefined || header.trim() === "") return null;
  const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
  if (!token) throw unauthenticated("The Authorization header must be `Bearer <token>`");
  const tokenHash = sha256Hex(token);
  const [row] = await sql(
    pool,
    "auth",
    `SELECT t."id" AS "tokenId", t."tokenHash", t."revokedAt" IS NOT NULL AS "revoked",
            t."expiresAt" IS NOT NULL AND t."expiresAt" <= $2::timestamp AS "expired", u."id", u."email"
       FROM "ApiToken" t JOIN "User" u ON u."id" = t."userId" WHERE t."tokenHash" = $1`,
    [tokenHash, new Date().toISOString()],
  );
  if (!row || !secretsEqual(tokenHash, row.tokenHash)) throw unauthenticated("Invalid API token");
  if (row.revoked) throw unauthenticated("API token has been revoked");
  if (row.expired) throw unauthenticated("API token has expired");
  return { id: row.id, email: row.email, tokenId: row.tokenId };
}

function requireViewer(viewer: Viewer | null): Viewer {
  if (!viewer) throw unauthenticated("You must be signed in");
  return viewer;
}

// ---- The operations.

const ROLE_AND_ORG = `SELECT o."id", o."title", m."role"::text AS "role" FROM "Organization" o
  LEFT JOIN "Member" m ON m."organizationId" = o."id" AND m."userId" = $2 WHERE o."id" = $1`;

/** W1, and the check W2 starts with: a member (any role) may read it; FORBIDDEN otherwise. */
async function organization(viewer: Viewer | null, id: unknown, minimum: "member" | "admin") {
  const v = requireViewer(viewer);
  const [org] = typeof id === "string" ? await sql(pool, "roleAndOrg", ROLE_AND_ORG, [id, v.id]) : [];
  if (!org?.role) throw forbidden("organization", "Only members of this organization may see this");
  if (minimum === "admin" && org.role !== "ADMIN") {
    throw forbidden("organization", "Only admins of this organization may do this");
  }
  return org as { id: string; title: string; role: string };
}

async function w1(viewer: Viewer | null, variables: Row) {
  const org = await organization(viewer, variables.id, "member");
  return { data: { organization: { id: org.id, title: org.title } } };
}

/** W2: the first page of invites, newest first, with the total (a window count: one statement). */
async function w2(viewer: Viewer | null, variables: Row) {
  const org = await organization(viewer, variables.id, "admin");
  const rows = await sql(
    pool,
    "invitePage",
    `SELECT "id", "email", "role"::text AS "role",
            CASE WHEN "status" = 'PENDING' AND "expiresAt" <= $3::timestamp THEN 'EXPIRED' ELSE "status"::text END AS "status",
            count(*) OVER () AS "total"
       FROM "Invite" WHERE "organizationId" = $1 ORDER BY "createdAt" DESC, "id" DESC LIMIT $2`,
    [org.id, PAGE_SIZE, new Date().toISOString()],
  );
  const totalCount = rows.length ? Number(rows[0]?.total) : await countInvites(org.id);
  const parent = { id: org.id, title: org.title };
  const edges = rows.map((r) => ({
    node: { id: r.id, email: r.email, role: r.role, status: r.status, organization: parent },
  }));
  return { data: { organization: { invites: { totalCount, edges } } } };
}

async function countInvites(organizationId: string): Promise<number> {
  const [row] = await sql(pool, "inviteCount", `SELECT count(*) AS "n" FROM "Invite" WHERE "organizationId" = $1`, [
    organizationId,
  ]);
  return Number(row?.n ?? 0);
}

/**
 * W3: `_entities` for Organization representations. Members see them; so do people with a pending
 * invite (asked only for the organizations where the viewer is not a member). Unknown ids are null;
 * denied ones are null with a FORBIDDEN error, as in the service.
 */
async function w3(viewer: Viewer | null, variables: Row) {
  const representations = Array.isArray(variables.r) ? (variables.r as Row[]) : [];
  if (representations.length > 1000) {
    return { errors: [error("At most 1000 representations per _entities call", "BAD_USER_INPUT", ["_entities"])] };
  }
  const v = requireViewer(viewer);
  const ids = representations.map((r) => (r?.__typename === "Organization" && typeof r.id === "string" ? r.id : ""));
  const rows = await sql(
    pool,
    "entitiesOrg",
    `SELECT o."id", o."title", m."role"::text AS "role" FROM "Organization" o
       LEFT JOIN "Member" m ON m."organizationId" = o."id" AND m."userId" = $2 WHERE o."id" = ANY($1::text[])`,
    [ids, v.id],
  );
  const byId = new Map(rows.map((r) => [r.id as string, r]));
  const notMember = rows.filter((r) => !r.role).map((r) => r.id as string);
  const invited = new Set<string>();
  if (notMember.length > 0) {
    const found = await sql(
      pool,
      "invitedTo",
      `SELECT DISTINCT "organizationId" FROM "Invite" WHERE "userId" = $1 AND "organizationId" = ANY($2::text[])
         AND "status" = 'PENDING' AND "expiresAt" > $3::timestamp`,
      [v.id, notMember, new Date().toISOString()],
    );
    for (const r of found) invited.add(r.organizationId);
  }
  const errors: object[] = [];
  const entities = ids.map((id, i) => {
    const org = byId.get(id);
    if (!org) return null;
    if (!org.role && !invited.has(id)) {
      errors.push(error("You may not do this", "FORBIDDEN", ["_entities", i, "title"]));
      return null;
    }
    return { id: org.id, title: org.title };
  });
  return errors.length ? { errors, data: { _entities: entities } } : { data: { _entities: entities } };
}

// zod's email pattern (src/domain/validation.ts uses z.email()).
const EMAIL = /^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$/;

/**
 * W4: invite one email with the default role (READ), as src/domain/invites.ts inviteUsers does for
 * one email: lock its pending invite, skip members, take one from the daily quota, make sure a user
 * record exists, refresh or create the invite, record the audit event; one transaction, retried on
 * a unique violation (a concurrent invite of the same email).
 */
async function w4(viewer: Viewer | null, variables: Row) {
  const v = requireViewer(viewer);
  const organizationId = String(variables.org);
  const [member] = await sql(
    pool,
    "role",
    `SELECT "role"::text AS "role" FROM "Member" WHERE "organizationId" = $1 AND "userId" = $2`,
    [organizationId, v.id],
  );
  if (member?.role !== "ADMIN") {
    throw forbidden("inviteUsersToOrganization", "Only admins of this organization may do this");
  }
  const email = String(variables.email).trim().toLowerCase();
  if (email.length > 254 || !EMAIL.test(email)) {
    return mutationResult({
      __typename: "ValidationError",
      code: "VALIDATION",
      message: "input.emails.0: Invalid email address",
    });
  }
  for (let attempt = 0; ; attempt++) {
    try {
      return mutationResult(await inviteInTransaction(v, organizationId, email));
    } catch (e) {
      if (attempt < 3 && (e as { code?: string }).code === "23505") continue;
      throw e;
    }
  }
}

const mutationResult = (result: object) => ({ data: { inviteUsersToOrganization: result } });

async function inviteInTransaction(v: Viewer, organizationId: string, email: string): Promise<object> {
  const client = await pool.connect();
  try {
    await sql(client, "", "BEGIN");
    const now = new Date();
    const nowIso = now.toISOString();
    const [pending] = await sql(
      client,
      "lockPending",
      `SELECT "id" FROM "Invite" WHERE "organizationId" = $1 AND "status" = 'PENDING' AND "email" = $2 FOR UPDATE`,
      [organizationId, email],
    );
    const members = await sql(
      client,
      "isMember",
      `SELECT 1 FROM "User" u JOIN "Member" m ON m."userId" = u."id" AND m."organizationId" = $1 WHERE u."email" = $2`,
      [organizationId, email],
    );
    if (members.length > 0) {
      await sql(client, "", "COMMIT");
      return {
        __typename: "InviteUsersToOrganizationSuccess",
        invited: 0,
        alreadyMembers: [email],
        invites: [],
      };
    }
    const quota = await sql(
      client,
      "quota",
      `INSERT INTO "InviteQuota" ("organizationId", "day", "count") VALUES ($1, $2::date, 1)
         ON CONFLICT ("organizationId", "day") DO UPDATE SET "count" = "InviteQuota"."count" + 1
         WHERE "InviteQuota"."count" + 1 <= $3::int RETURNING "count"`,
      [organizationId, nowIso.slice(0, 10), dailyLimit],
    );
    if (quota.length === 0) {
      await sql(client, "", "ROLLBACK");
      return {
        __typename: "RateLimitedError",
        code: "RATE_LIMITED",
        message: `This organization may send ${dailyLimit} invites a day; 1 more would pass that limit. Try again tomorrow (UTC).`,
      };
    }
    // The user of the email: inserted when unknown, else the existing one (one statement).
    const [user] = await sql(
      client,
      "ensureUser",
      `WITH ins AS (INSERT INTO "User" ("id", "email", "emailVerified", "createdAt", "updatedAt")
                    VALUES ($1, $2, false, $3::timestamp, $3::timestamp) ON CONFLICT DO NOTHING RETURNING "id")
       SELECT "id" FROM ins UNION ALL SELECT "id" FROM "User" WHERE "email" = $2`,
      [randomUUID(), email, nowIso],
    );
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
    const fields = `"id", "email", "role"::text AS "role", "status"::text AS "status"`;
    const [invite] = pending
      ? await sql(
          client,
          "refreshInvite",
          `UPDATE "Invite" SET "role" = 'READ', "sso" = false, "expiresAt" = $2::timestamp, "invitedById" = $3,
             "userId" = $4, "updatedAt" = $5::timestamp WHERE "id" = $1 RETURNING ${fields}`,
          [pending.id, expiresAt, v.id, user?.id, nowIso],
        )
      : await sql(
          client,
          "createInvite",
          `INSERT INTO "Invite" ("id", "organizationId", "email", "role", "sso", "status", "userId", "invitedById",
             "createdAt", "updatedAt", "expiresAt")
           VALUES ($1, $2, $3, 'READ', false, 'PENDING', $4, $5, $6::timestamp, $6::timestamp, $7::timestamp)
           RETURNING ${fields}`,
          [randomBytes(16).toString("base64url"), organizationId, email, user?.id, v.id, nowIso, expiresAt],
        );
    await sql(
      client,
      "audit",
      `INSERT INTO "AuditEvent" ("id", "organizationId", "action", "actorId", "actorTokenId", "actorSubject",
         "targetId", "createdAt") VALUES ($1, $2, $3, $4, $5, NULL, $6, $7::timestamp)`,
      [
        randomUUID(),
        organizationId,
        pending ? "invite.refreshed" : "invite.created",
        v.id,
        v.tokenId,
        invite?.id,
        nowIso,
      ],
    );
    await sql(client, "", "COMMIT");
    return {
      __typename: "InviteUsersToOrganizationSuccess",
      invited: 1,
      alreadyMembers: [],
      invites: [{ id: invite?.id, email: invite?.email, role: invite?.role, status: invite?.status }],
    };
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

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
  if (req.method === "GET" && path === "/debug/sql-count") return send(res, 200, { count: sqlCount });
  send(res, 404, { error: "not found" });
});

server.listen(Number(env.PORT ?? 0), env.HOST ?? "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`floor listening on http://${env.HOST ?? "127.0.0.1"}:${port}\n`);
});

process.once("SIGTERM", () => {
  server.close(() => {
    pool.end().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  server.closeIdleConnections();
});
