/**
 * The data access of the benchmark's hand-written servers: every SQL statement of the floor
 * (bench/floor/server.ts), shared with the Yoga + SDL peers (bench/peers/yoga-sdl/server.ts) so that
 * all of them send the same statements and take the same decisions. The same token lookup as
 * src/domain/users.ts authenticateToken (SHA-256 of the bearer token in "ApiToken", joined to its user;
 * revoked and expired tokens refused), the same membership and admin checks, the same writes for the
 * invite mutation as src/domain/invites.ts inviteUsers for one email. No HTTP and no GraphQL here: each
 * server turns a decision (a thrown AuthFailure, a missing role, an entity that is not visible) into its
 * own errors, with the messages below.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";

export type Row = Record<string, any>;
type Db = pg.Pool | pg.PoolClient;

/** What the service says when it denies (src/graphql/permissions.ts, src/graphql/errors.ts), written out. */
export const MESSAGES = {
  badHeader: "The Authorization header must be `Bearer <token>`",
  badToken: "Invalid API token",
  revoked: "API token has been revoked",
  expired: "API token has expired",
  signIn: "Sign in to do this",
  member: "Only members of this organization may see this",
  admin: "Only admins of this organization may do this",
  entity: "You are not allowed to do this",
  tooManyRepresentations: "At most 1000 representations per _entities call",
  invalidEmail: "input.emails.0: Invalid email address",
} as const;

export interface Viewer {
  id: string;
  email: string | null;
  tokenId: string;
}

/** A credential that is present but not valid: UNAUTHENTICATED (HTTP 401), never anonymous. */
export class AuthFailure extends Error {}

export interface OrganizationRow {
  id: string;
  title: string;
  /** The viewer's role in it; null when the viewer is not a member. */
  role: string | null;
}

export interface InviteRow {
  id: string;
  email: string;
  role: string;
  status: string;
}

/** An `_entities` answer for one Organization representation. */
export interface OrganizationEntity {
  id: string;
  title: string;
  /** A member, or invited to it (a pending, unexpired invite): the service shows it; else FORBIDDEN. */
  visible: boolean;
}

/** inviteUsersToOrganization's result for one email, as the union member it is. */
export type InviteResult =
  | { __typename: "InviteUsersToOrganizationSuccess"; invited: number; alreadyMembers: string[]; invites: InviteRow[] }
  | { __typename: "RateLimitedError"; code: "RATE_LIMITED"; message: string }
  | { __typename: "ValidationError"; code: "VALIDATION"; message: string };

export interface BenchDbOptions {
  connectionString?: string;
  poolSize?: number;
  inviteTtlMs: number;
  dailyInviteLimit: number;
}

/** The options from the environment the floor and the peers share. */
export function dbOptionsFromEnv(env: NodeJS.ProcessEnv): BenchDbOptions {
  return {
    ...(env.DATABASE_URL ? { connectionString: env.DATABASE_URL } : {}),
    poolSize: Number(env.DB_POOL_SIZE ?? 10),
    inviteTtlMs: Number(env.INVITE_TTL_MS ?? 7 * 86_400_000),
    dailyInviteLimit: Number(env.INVITE_RATE_LIMIT ?? 1000),
  };
}

const sha256Hex = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

function secretsEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

// zod's email pattern (src/domain/validation.ts uses z.email()).
const EMAIL = /^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$/;

/** The email as the service stores it (trimmed, lower-cased), or null when it is not valid. */
export function normalizeEmail(raw: string): string | null {
  const email = raw.trim().toLowerCase();
  return email.length > 254 || !EMAIL.test(email) ? null : email;
}

const ROLE_AND_ORG = `SELECT o."id", o."title", m."role"::text AS "role" FROM "Organization" o
  LEFT JOIN "Member" m ON m."organizationId" = o."id" AND m."userId" = $2 WHERE o."id" = $1`;

export type BenchDb = ReturnType<typeof openBenchDb>;

export function openBenchDb(options: BenchDbOptions) {
  const pool = new pg.Pool({
    ...(options.connectionString ? { connectionString: options.connectionString } : {}),
    max: options.poolSize ?? 10,
  });
  let sqlCount = 0;

  // TIMESTAMP(3) columns hold UTC wall time (as Prisma writes them): times are sent as UTC ISO strings
  // cast to ::timestamp (PostgreSQL ignores the "Z"), and compared in SQL.

  /** Every statement goes through here: named (prepared once per connection) when it has a name. */
  async function sql(db: Db, name: string, text: string, values: unknown[] = []): Promise<Row[]> {
    sqlCount++;
    const result = await db.query(name ? { name, text, values } : { text, values });
    return result.rows;
  }

  /**
   * The viewer of an Authorization header: null when there is none; AuthFailure when it is malformed
   * or its token is unknown, revoked or expired. One statement.
   */
  async function authenticate(header: string | null | undefined): Promise<Viewer | null> {
    if (header === undefined || header === null || header.trim() === "") return null;
    const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (!token) throw new AuthFailure(MESSAGES.badHeader);
    const tokenHash = sha256Hex(token);
    const [row] = await sql(
      pool,
      "auth",
      `SELECT t."id" AS "tokenId", t."tokenHash", t."revokedAt" IS NOT NULL AS "revoked",
              t."expiresAt" IS NOT NULL AND t."expiresAt" <= $2::timestamp AS "expired", u."id", u."email"
         FROM "ApiToken" t JOIN "User" u ON u."id" = t."userId" WHERE t."tokenHash" = $1`,
      [tokenHash, new Date().toISOString()],
    );
    if (!row || !secretsEqual(tokenHash, row.tokenHash)) throw new AuthFailure(MESSAGES.badToken);
    if (row.revoked) throw new AuthFailure(MESSAGES.revoked);
    if (row.expired) throw new AuthFailure(MESSAGES.expired);
    return { id: row.id, email: row.email, tokenId: row.tokenId };
  }

  /** An organization with the viewer's role in it (null: not a member); undefined when unknown. */
  async function organizationWithRole(id: string, userId: string): Promise<OrganizationRow | undefined> {
    const [org] = await sql(pool, "roleAndOrg", ROLE_AND_ORG, [id, userId]);
    return org as OrganizationRow | undefined;
  }

  /** The first page of an organization's invites, newest first, with the total (a window count: one statement). */
  async function invitePage(organizationId: string, first: number) {
    const rows = await sql(
      pool,
      "invitePage",
      `SELECT "id", "email", "role"::text AS "role",
              CASE WHEN "status" = 'PENDING' AND "expiresAt" <= $3::timestamp THEN 'EXPIRED' ELSE "status"::text END AS "status",
              count(*) OVER () AS "total"
         FROM "Invite" WHERE "organizationId" = $1 ORDER BY "createdAt" DESC, "id" DESC LIMIT $2`,
      [organizationId, first, new Date().toISOString()],
    );
    const totalCount = rows.length ? Number(rows[0]?.total) : await countInvites(organizationId);
    const invites: InviteRow[] = rows.map((r) => ({ id: r.id, email: r.email, role: r.role, status: r.status }));
    return { totalCount, invites };
  }

  async function countInvites(organizationId: string): Promise<number> {
    const [row] = await sql(pool, "inviteCount", `SELECT count(*) AS "n" FROM "Invite" WHERE "organizationId" = $1`, [
      organizationId,
    ]);
    return Number(row?.n ?? 0);
  }

  /**
   * `_entities` for Organization ids: members see them; so do people with a pending invite (asked only
   * for the organizations where the viewer is not a member). Unknown ids (and "") are null.
   */
  async function organizationEntities(ids: string[], userId: string): Promise<Array<OrganizationEntity | null>> {
    const rows = await sql(
      pool,
      "entitiesOrg",
      `SELECT o."id", o."title", m."role"::text AS "role" FROM "Organization" o
         LEFT JOIN "Member" m ON m."organizationId" = o."id" AND m."userId" = $2 WHERE o."id" = ANY($1::text[])`,
      [ids, userId],
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
        [userId, notMember, new Date().toISOString()],
      );
      for (const r of found) invited.add(r.organizationId);
    }
    return ids.map((id) => {
      const org = byId.get(id);
      return org ? { id: org.id, title: org.title, visible: Boolean(org.role) || invited.has(id) } : null;
    });
  }

  /** The viewer's role in an organization, or null. */
  async function memberRole(organizationId: string, userId: string): Promise<string | null> {
    const [member] = await sql(
      pool,
      "role",
      `SELECT "role"::text AS "role" FROM "Member" WHERE "organizationId" = $1 AND "userId" = $2`,
      [organizationId, userId],
    );
    return (member?.role as string | undefined) ?? null;
  }

  /**
   * Invites one (valid, normalized) email with the default role (READ): lock its pending invite, skip
   * members, take one from the daily quota, make sure a user record exists, refresh or create the
   * invite, record the audit event; one transaction, retried on a unique violation (a concurrent
   * invite of the same email). The caller has checked that the viewer is an admin.
   */
  async function inviteEmail(v: Viewer, organizationId: string, email: string): Promise<InviteResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await inviteInTransaction(v, organizationId, email);
      } catch (e) {
        if (attempt < 3 && (e as { code?: string }).code === "23505") continue;
        throw e;
      }
    }
  }

  async function inviteInTransaction(v: Viewer, organizationId: string, email: string): Promise<InviteResult> {
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
        [organizationId, nowIso.slice(0, 10), options.dailyInviteLimit],
      );
      if (quota.length === 0) {
        await sql(client, "", "ROLLBACK");
        return {
          __typename: "RateLimitedError",
          code: "RATE_LIMITED",
          message: `This organization may send ${options.dailyInviteLimit} invites a day; 1 more would pass that limit. Try again tomorrow (UTC).`,
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
      const expiresAt = new Date(now.getTime() + options.inviteTtlMs).toISOString();
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

  return {
    /** Statements sent so far (BEGIN and COMMIT included): GET /debug/sql-count. */
    get sqlCount() {
      return sqlCount;
    },
    authenticate,
    organizationWithRole,
    invitePage,
    organizationEntities,
    memberRole,
    inviteEmail,
    close: () => pool.end(),
  };
}

/**
 * Listens on PORT (default: any free one) and HOST, says where on stdout (the runner waits for that
 * line), and on SIGTERM stops taking connections, then closes the pool and exits.
 */
export function serveUntilSigterm(
  server: Server,
  name: string,
  db: Pick<BenchDb, "close">,
  env: NodeJS.ProcessEnv,
): void {
  server.listen(Number(env.PORT ?? 0), env.HOST ?? "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${name} listening on http://${env.HOST ?? "127.0.0.1"}:${port}\n`);
  });
  process.once("SIGTERM", () => {
    server.close(() => {
      db.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    server.closeIdleConnections();
  });
}
