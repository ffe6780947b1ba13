import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createDatabase, type Database } from "../../src/db/client.js";
import { readMigrationsList } from "../../src/db/migrate.js";
import { createUserWithToken } from "../../src/domain/users.js";
import { uniqueEmail } from "../helpers/app.js";
import { adminQuery } from "../helpers/db.js";
import { runCliProcess, type ServerProcess, startServerProcess, stopServerProcess } from "../helpers/process.js";
import { post, type Replica, replicaOf } from "../helpers/replicas.js";

/**
 * Two server processes (replicas) on one PostgreSQL database: the invariants that hold within one
 * process (maxUses, one PENDING invite per email) must hold across processes too, since only the
 * database is shared. Both replicas start at the same time, so both migrate on start.
 */
const SERVER_URL = process.env.TEST_DATABASE_URL;
const title = SERVER_URL
  ? "two replicas on one PostgreSQL"
  : "two replicas on one PostgreSQL (skipped: set TEST_DATABASE_URL to a PostgreSQL server where databases may be created)";
/** `.ci/run` sets TEST_REDIS_URL (Redis on 127.0.0.1:6379). */
const REDIS_URL = process.env.TEST_REDIS_URL;
const redisTitle = REDIS_URL
  ? "a request rate limit shared through Redis"
  : "a request rate limit shared through Redis (skipped: set TEST_REDIS_URL, e.g. redis://127.0.0.1:6379)";

const JOINERS = 200;
const MAX_USES = 25;
const INVITES = 50;
const PER_MINUTE = 20;
const CALLS = 30;

const JOIN = `mutation($o: ID!, $i: ID!) { joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
  __typename ... on Error { code } ... on JoinOrganizationWithInviteSuccess { member { user { id } role } } } }`;
const INVITE = `mutation($o: ID!, $e: String!, $r: MemberRole) {
  inviteUsersToOrganization(organizationId: $o, input: { emails: [$e], role: $r }) {
    __typename ... on Error { code message } ... on InviteUsersToOrganizationSuccess { invited invites { id } } } }`;
const CREATE_LINK = `mutation($o: ID!, $m: Int) {
  createLinkInvite(organizationId: $o, input: { role: READ, maxUses: $m }) {
    __typename ... on Error { code message } ... on CreateLinkInviteSuccess { linkInvite { id } } } }`;
const LINK = `query($o: ID!, $i: ID!) { organization(id: $o) { linkInvite(id: $i) { status uses maxUses } } }`;
const VIEWER = "query { viewer { id } }";

/** The `applied` list a replica logged on start (pino JSON lines). */
function appliedOnStart(server: ServerProcess): string[] {
  for (const line of server.output().split("\n")) {
    if (!line.includes('"applied"')) continue;
    return (JSON.parse(line) as { applied: string[] }).applied;
  }
  throw new Error(`no migration log line:\n${server.output()}`);
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function inBatches<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += limit) results.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
  return results;
}

function outcome(result: { __typename: string; code?: string } | undefined): string {
  return result?.code ?? result?.__typename ?? "missing";
}

function tally(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

describe.skipIf(!SERVER_URL)(title, () => {
  const name = `igw_t_${randomBytes(6).toString("hex")}`;
  let url: string;
  let db: Database;
  const replicas: Replica[] = [];
  let admin: { email: string; token: string };
  let orgId: string;

  beforeAll(async () => {
    await adminQuery(SERVER_URL as string, `CREATE DATABASE ${name}`);
    const u = new URL(SERVER_URL as string);
    u.pathname = `/${name}`;
    url = u.toString();
    // Both at once, each migrating on start (AUTO_MIGRATE defaults to true). A burst queues 100
    // requests per replica on a pool of 10. DB_CONNECT_TIMEOUT (5s) is also pg-pool's wait for a
    // free connection: raised, so that on a loaded machine the wait is bounded by a transaction's
    // maxWait (10s, src/domain/tx.ts) and the test checks the invariants, not the queue.
    const env = { DATABASE_URL: url, DB_POOL_SIZE: "10", DB_CONNECT_TIMEOUT: "30s" };
    const servers = await Promise.allSettled([0, 1].map(() => startServerProcess(env)));
    for (const s of servers) {
      if (s.status === "fulfilled") replicas.push(replicaOf(s.value));
    }
    const failed = servers.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    db = await createDatabase(loadConfig({ NODE_ENV: "test", DATABASE_URL: url, DB_POOL_SIZE: "10" }));

    admin = { email: uniqueEmail("admin"), token: "" };
    const user = await runCliProcess(["user", "create", "--email", admin.email], { DATABASE_URL: url });
    expect(user.code, user.stderr).toBe(0);
    admin.token = JSON.parse(user.stdout).token;
    const org = await runCliProcess(["org", "create", "--title", "Replicas", "--owner-email", admin.email], {
      DATABASE_URL: url,
    });
    expect(org.code, org.stderr).toBe(0);
    orgId = JSON.parse(org.stdout).id;
  });

  afterAll(async () => {
    await Promise.all(replicas.map((r) => stopServerProcess(r.server)));
    for (const r of replicas) r.agent.destroy();
    await db?.close();
    await adminQuery(SERVER_URL as string, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  it("both replicas migrated on start at once: every migration applied exactly once", async () => {
    const all = (await readMigrationsList()).migrationDirectories.map((d) => d.path);
    const [first = [], second = []] = replicas.map((r) => appliedOnStart(r.server));
    console.info(`replicas: migrations applied on start: ${first.length} and ${second.length}`);
    // The schema engine serializes concurrent runs (pg_advisory_lock): one applies, the other
    // then finds nothing pending.
    expect([...first, ...second].sort()).toEqual(all);
    const rows = await db.prisma.$queryRaw<{ migration_name: string; finished: boolean; rolled_back: boolean }[]>`
      SELECT "migration_name", "finished_at" IS NOT NULL AS "finished", "rolled_back_at" IS NOT NULL AS "rolled_back"
      FROM "_prisma_migrations" ORDER BY "migration_name"`;
    expect(rows).toEqual(all.map((migration_name) => ({ migration_name, finished: true, rolled_back: false })));
  });

  it(`${JOINERS} concurrent joins across both replicas on a maxUses: ${MAX_USES} link make exactly ${MAX_USES} members`, async () => {
    const created = await post(replicas[0] as Replica, CREATE_LINK, { o: orgId, m: MAX_USES }, admin.token);
    expect(created.body.errors).toBeUndefined();
    const linkId: string = created.body.data?.createLinkInvite.linkInvite.id;
    expect(linkId).toBeTruthy();
    // Seeded through the domain function the CLI uses (same token hashing), 20 at a time.
    const joiners = await inBatches(
      Array.from({ length: JOINERS }, (_, i) => i),
      20,
      async () => {
        const { user, token } = await createUserWithToken(db.prisma, { email: uniqueEmail("joiner") });
        return { id: user.id, token };
      },
    );

    const started = Date.now();
    const results = await Promise.all(
      joiners.map((u, i) => post(replicas[i % 2] as Replica, JOIN, { o: orgId, i: linkId }, u.token)),
    );
    const wallMs = Date.now() - started;

    const statuses = tally(results.map((r) => String(r.status)));
    const topLevelErrors = results.flatMap((r) => r.body.errors ?? []);
    const outcomes = results.map((r) => outcome(r.body.data?.joinOrganizationWithInvite));
    const perReplica = [0, 1].map((k) =>
      tally(outcomes.filter((_, i) => i % 2 === k).map((o) => (o === "JoinOrganizationWithInviteSuccess" ? "ok" : o))),
    );
    console.info(
      `replicas: ${JOINERS} joins on maxUses ${MAX_USES}: ${JSON.stringify(tally(outcomes))}, per replica ${JSON.stringify(perReplica)}, HTTP ${JSON.stringify(statuses)}, ${wallMs} ms`,
    );
    expect(statuses).toEqual({ 200: JOINERS });
    expect(topLevelErrors).toEqual([]);
    expect(tally(outcomes)).toEqual({
      JoinOrganizationWithInviteSuccess: MAX_USES,
      INVITE_USED_UP: JOINERS - MAX_USES,
    });

    const joinedIds = results
      .map((r) => r.body.data?.joinOrganizationWithInvite.member?.user.id as string | undefined)
      .filter((id): id is string => id !== undefined)
      .sort();
    const members = await db.prisma.member.findMany({
      where: { organizationId: orgId, userId: { in: joiners.map((j) => j.id) } },
      select: { userId: true, role: true },
    });
    expect(members.map((m) => m.userId).sort()).toEqual(joinedIds);
    expect(new Set(members.map((m) => m.role))).toEqual(new Set(["READ"]));
    expect(await db.prisma.member.count({ where: { organizationId: orgId } })).toBe(MAX_USES + 1);
    expect(
      await db.prisma.auditEvent.count({ where: { organizationId: orgId, action: "link.used", targetId: linkId } }),
    ).toBe(MAX_USES);
    const link = await post(replicas[1] as Replica, LINK, { o: orgId, i: linkId }, admin.token);
    expect(link.body).toEqual({
      data: { organization: { linkInvite: { status: "USED_UP", uses: MAX_USES, maxUses: MAX_USES } } },
    });
  });

  it(`${INVITES} concurrent invites of one email across both replicas leave one PENDING invite`, async () => {
    const email = uniqueEmail("contended");
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: INVITES }, (_, i) =>
        post(replicas[i % 2] as Replica, INVITE, { o: orgId, e: email, r: i % 3 ? "EDIT" : "READ" }, admin.token),
      ),
    );
    const wallMs = Date.now() - started;
    const outcomes = results.map((r) => outcome(r.body.data?.inviteUsersToOrganization));
    const statuses = tally(results.map((r) => String(r.status)));
    const ids = new Set(results.map((r) => r.body.data?.inviteUsersToOrganization.invites?.[0]?.id));
    const events = await db.prisma.auditEvent.groupBy({
      by: ["action"],
      where: { organizationId: orgId, action: { startsWith: "invite." } },
      _count: true,
    });
    const audit = Object.fromEntries(events.map((e) => [e.action, e._count]));
    console.info(
      `replicas: ${INVITES} invites of one email: ${JSON.stringify(tally(outcomes))}, HTTP ${JSON.stringify(statuses)}, invite ids ${ids.size}, audit ${JSON.stringify(audit)}, ${wallMs} ms`,
    );

    expect(statuses).toEqual({ 200: INVITES });
    expect(results.flatMap((r) => r.body.errors ?? [])).toEqual([]);
    for (const r of results) expect(r.body.data?.inviteUsersToOrganization.invited).toBe(1);
    expect(tally(outcomes)).toEqual({ InviteUsersToOrganizationSuccess: INVITES });
    // Each call created or refreshed the same invite (same id).
    expect(ids.size).toBe(1);
    const [inviteId] = [...ids];
    const pending = await db.prisma.invite.findMany({ where: { organizationId: orgId, email, status: "PENDING" } });
    expect(pending.map((i) => i.id)).toEqual([inviteId]);
    expect(await db.prisma.invite.count({ where: { organizationId: orgId, email } })).toBe(1);
    expect(await db.prisma.user.count({ where: { email } })).toBe(1);
    expect(audit).toEqual({ "invite.created": 1, "invite.refreshed": INVITES - 1 });
    const targets = await db.prisma.auditEvent.findMany({
      where: { organizationId: orgId, action: { startsWith: "invite." } },
      distinct: ["targetId"],
      select: { targetId: true },
    });
    expect(targets).toEqual([{ targetId: inviteId }]);
  });

  describe.skipIf(!REDIS_URL)(redisTitle, () => {
    const prefix = `igw-test-${randomBytes(6).toString("hex")}`;
    const limited: Replica[] = [];
    let redis: Redis;

    beforeAll(async () => {
      redis = new Redis(REDIS_URL as string, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect();
      // Two more replicas on the migrated database, sharing one count in Redis.
      const env = {
        DATABASE_URL: url,
        AUTO_MIGRATE: "false",
        RATE_LIMIT_PER_MINUTE: String(PER_MINUTE),
        REDIS_URL: REDIS_URL as string,
        REDIS_KEY_PREFIX: prefix,
      };
      const servers = await Promise.allSettled([0, 1].map(() => startServerProcess(env)));
      for (const s of servers) {
        if (s.status === "fulfilled") limited.push(replicaOf(s.value));
      }
      const failed = servers.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
    });

    afterAll(async () => {
      await Promise.all(limited.map((r) => stopServerProcess(r.server)));
      for (const r of limited) r.agent.destroy();
      if (redis) {
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
        await redis.quit();
      }
    });

    /** The requests counted in Redis under this test's prefix, all callers together. */
    async function storedCount(): Promise<number> {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length === 0) return 0;
      return (await redis.mget(...keys)).reduce((sum, v) => sum + Number(v ?? 0), 0);
    }

    it(`one caller sending ${CALLS} requests split across both replicas gets ${PER_MINUTE} through, the rest 429`, async () => {
      // A replica counts in memory until its Redis client is ready: first make sure that each
      // one's requests land in Redis (a warm-up caller's count goes up).
      const warm = await createUserWithToken(db.prisma, { email: uniqueEmail("warm") });
      for (const replica of limited) {
        for (let attempt = 0; ; attempt++) {
          const before = await storedCount();
          expect((await post(replica, VIEWER, {}, warm.token)).status).toBe(200);
          if ((await storedCount()) > before) break;
          expect(attempt, "this replica does not count in Redis").toBeLessThan(20);
          await sleep(100);
        }
      }
      const counted = await storedCount();

      const caller = await createUserWithToken(db.prisma, { email: uniqueEmail("caller") });
      const results = await Promise.all(
        Array.from({ length: CALLS }, (_, i) => post(limited[i % 2] as Replica, VIEWER, {}, caller.token)),
      );
      const statuses = tally(results.map((r) => String(r.status)));
      const perReplica = [0, 1].map((k) => tally(results.filter((_, i) => i % 2 === k).map((r) => String(r.status))));
      console.info(
        `replicas: ${CALLS} requests of one caller, limit ${PER_MINUTE}/min shared in Redis: HTTP ${JSON.stringify(statuses)}, per replica ${JSON.stringify(perReplica)}`,
      );
      expect(statuses).toEqual({ 200: PER_MINUTE, 429: CALLS - PER_MINUTE });
      for (const r of results) {
        if (r.status === 200) expect(r.body).toEqual({ data: { viewer: { id: caller.user.id } } });
        else expect(r.body.errors?.map((e) => e.extensions?.code)).toEqual(["RATE_LIMITED"]);
      }
      // Each replica got 15 requests, fewer than the limit: counted apart, all 30 would pass.
      expect(await storedCount()).toBe(counted + CALLS);
    });
  });
});
