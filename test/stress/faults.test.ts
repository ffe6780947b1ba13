import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createDatabase } from "../../src/db/client.js";
import { createUserWithToken } from "../../src/domain/users.js";
import { adminQuery } from "../helpers/db.js";
import { createPgCluster, type PgCluster, pgClusterUnavailable } from "../helpers/pg-cluster.js";
import { runCliProcess, runMigrateProcess, startServerProcess, stopServerProcess } from "../helpers/process.js";

// Faults with real processes over loopback, on a PostgreSQL cluster of this file's own (never the
// shared one on 5432): PostgreSQL restarted under a load of reads and writes, a pool exhausted by
// blocked queries, SIGTERM with requests in flight. Bounds on time are generous "does not hang"
// checks, not performance assertions. The one-line summaries printed here are the figures.

const skipReason = pgClusterUnavailable();
if (skipReason) console.warn(`[faults] skipped: ${skipReason}`);

const ORG = "query Org($org: ID!) { organization(id: $org) { id title members(first: 5) { totalCount } } }";
const INVITE = `mutation Invite($org: ID!, $input: InviteUsersToOrganizationInput!) {
  inviteUsersToOrganization(organizationId: $org, input: $input) {
    __typename ... on InviteUsersToOrganizationSuccess { invited } ... on Error { code } } }`;
const CREATE_LINK = `mutation Link($org: ID!, $input: CreateLinkInviteInput!) {
  createLinkInvite(organizationId: $org, input: $input) {
    __typename ... on CreateLinkInviteSuccess { linkInvite { id maxUses } } ... on Error { code } } }`;
const JOIN = `mutation Join($org: ID!, $id: ID!) {
  joinOrganizationWithInvite(organizationId: $org, inviteId: $id) {
    __typename ... on JoinOrganizationWithInviteSuccess { member { role } } ... on Error { code } } }`;

const DB_FAILURE_CODES = ["SERVICE_UNAVAILABLE", "TIMEOUT"];
const HANG_MS = 30_000;

interface Outcome {
  op: string;
  /** Start, ms since the scenario began. */
  t: number;
  ms: number;
  status: number;
  /** extensions.code of the first top-level error; FETCH_FAILED when there was no HTTP answer. */
  code: string | null;
  typename?: string;
  data?: any;
}

function clock() {
  const t0 = performance.now();
  return () => Math.round(performance.now() - t0);
}

async function gql(url: string, token: string, query: string, variables: Record<string, unknown>) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(HANG_MS),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: any[] } };
}

/** Runs one request and records its outcome. */
function recorder(url: string, now: () => number, outcomes: Outcome[]) {
  return async (op: string, token: string, query: string, variables: Record<string, unknown>): Promise<Outcome> => {
    const t = now();
    let outcome: Outcome;
    try {
      const { status, body } = await gql(url, token, query, variables);
      const root = body.data ? Object.values(body.data)[0] : undefined;
      outcome = {
        op,
        t,
        ms: now() - t,
        status,
        code: body.errors?.length ? String(body.errors[0]?.extensions?.code) : null,
        typename: (root as { __typename?: string } | undefined)?.__typename,
        data: root,
      };
    } catch (error) {
      outcome = { op, t, ms: now() - t, status: 0, code: `FETCH_FAILED ${String(error)}` };
    }
    outcomes.push(outcome);
    return outcome;
  };
}

async function readyProbe(url: string, now: () => number) {
  const t = now();
  try {
    const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(HANG_MS) });
    await response.arrayBuffer();
    return { t, ms: now() - t, status: response.status };
  } catch {
    return { t, ms: now() - t, status: 0 };
  }
}

/** Waits until `n` sessions wait on a lock (from a session of its own: pg_stat_activity is a snapshot per transaction). */
async function waitForLockWaiters(url: string, n: number): Promise<void> {
  const watcher = new pg.Client({ connectionString: url });
  await watcher.connect();
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rows } = await watcher.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      if (rows[0].n >= n) return;
      if (Date.now() > deadline) throw new Error(`${rows[0].n} of ${n} sessions wait on the lock after 20 s`);
      await sleep(20);
    }
  } finally {
    await watcher.end();
  }
}

const count = <T>(items: T[], key: (item: T) => string) =>
  items.reduce<Record<string, number>>((acc, item) => {
    acc[key(item)] = (acc[key(item)] ?? 0) + 1;
    return acc;
  }, {});

describe.skipIf(skipReason)("faults on a private PostgreSQL cluster", () => {
  let cluster: PgCluster;
  let dbUrl: string;
  let admin: { id: string; token: string };
  let orgId: string;

  beforeAll(async () => {
    cluster = await createPgCluster("faults");
    await adminQuery(cluster.url(), "CREATE DATABASE igw");
    dbUrl = cluster.url("igw");
    const migrated = await runMigrateProcess({ DATABASE_URL: dbUrl });
    expect(migrated.code, migrated.stderr).toBe(0);
    const email = "admin@faults.example.com";
    const user = await runCliProcess(["user", "create", "--email", email], { DATABASE_URL: dbUrl });
    expect(user.code, user.stderr).toBe(0);
    admin = JSON.parse(user.stdout);
    const org = await runCliProcess(["org", "create", "--title", "Faults", "--owner-email", email], {
      DATABASE_URL: dbUrl,
    });
    expect(org.code, org.stderr).toBe(0);
    orgId = JSON.parse(org.stdout).id;
  });
  afterAll(async () => {
    await cluster?.drop();
  });

  it("PostgreSQL restarted under load: fail fast with SERVICE_UNAVAILABLE, recover, nothing half-applied", async () => {
    // The joiners: one new user per join. Made with the service's own function (the CLI would
    // start a process per user).
    const seeder = await createDatabase(loadConfig({ DATABASE_URL: dbUrl }));
    const joiners: string[] = [];
    for (let i = 0; i < 500; i += 10) {
      const batch = Array.from({ length: 10 }, (_, j) =>
        createUserWithToken(seeder.prisma, { email: `joiner-${i + j}@faults.example.com` }),
      );
      for (const { token } of await Promise.all(batch)) joiners.push(token);
    }
    await seeder.close();

    const server = await startServerProcess({ DATABASE_URL: dbUrl, DB_CONNECT_TIMEOUT: "2s" });
    try {
      const now = clock();
      const outcomes: Outcome[] = [];
      const call = recorder(server.url, now, outcomes);
      const links = {
        limited: await call("createLink", admin.token, CREATE_LINK, {
          org: orgId,
          input: { role: "READ", maxUses: 40 },
        }),
        open: await call("createLink", admin.token, CREATE_LINK, { org: orgId, input: { role: "READ" } }),
      };
      const limitedId: string = links.limited.data.linkInvite.id;
      const openId: string = links.open.data.linkInvite.id;

      let running = true;
      const loop = async (body: (i: number) => Promise<unknown>, pauseMs = 20) => {
        for (let i = 0; running; i++) {
          await body(i);
          await sleep(pauseMs);
        }
      };
      const joins = { limited: { ok: 0, failed: 0 }, open: { ok: 0, failed: 0 } };
      const join = async (which: "limited" | "open", token: string) => {
        const o = await call("join", token, JOIN, { org: orgId, id: which === "limited" ? limitedId : openId });
        if (o.typename === "JoinOrganizationWithInviteSuccess") joins[which].ok++;
        else if (o.code) joins[which].failed++;
        return o;
      };
      let inviteSeq = 0;
      const ready: Array<{ t: number; ms: number; status: number }> = [];
      const load = [
        loop(() => call("read", admin.token, ORG, { org: orgId })),
        loop(() => call("read", admin.token, ORG, { org: orgId })),
        loop(() => {
          inviteSeq++;
          const emails = [`inv-${inviteSeq}-a@faults.example.com`, `inv-${inviteSeq}-b@faults.example.com`];
          return call("invite", admin.token, INVITE, { org: orgId, input: { emails } });
        }),
        loop(() => call("createLink", admin.token, CREATE_LINK, { org: orgId, input: { role: "READ", maxUses: 3 } })),
        // A joiner whose join failed tries again (its join may have committed: ALREADY_MEMBER).
        ...[0, 1].map(() =>
          loop(async () => {
            const token = joiners.at(-1);
            if (!token) return;
            let o = await join("limited", token);
            if (o.typename === "InviteUsedUpError") o = await join("open", token);
            if (o.code === null) joiners.pop();
          }, 60),
        ),
        (async () => {
          while (running) {
            ready.push(await readyProbe(server.url, now));
            await sleep(100);
          }
        })(),
      ];

      await sleep(2_000);
      const stopAt = now();
      await cluster.stop();
      const stoppedAt = now();
      await sleep(2_500);
      const startAt = now();
      await cluster.start();
      const startedAt = now();
      await sleep(5_000);
      running = false;
      await Promise.all(load);
      const endAt = now();

      const errors = outcomes.filter((o) => o.code !== null);
      const firstError = Math.min(...errors.map((o) => o.t + o.ms));
      const lastErrorEnd = Math.max(...errors.map((o) => o.t + o.ms));
      const recovered = outcomes.filter((o) => o.code === null && o.t >= lastErrorEnd).map((o) => o.t + o.ms);
      const recoveredAt = Math.min(...recovered);
      const errorMs = errors.map((o) => o.ms).sort((a, b) => a - b);
      const ready503 = ready.filter((r) => r.status === 503);
      console.log(
        `[faults] restart: ${outcomes.length} requests in ${endAt} ms; PostgreSQL stop at +${stopAt} ms (down +${stoppedAt}), ` +
          `start at +${startAt} ms (command returned +${startedAt}); first error answered at +${firstError} ms, last at +${lastErrorEnd} ms; ` +
          `${errors.length} errors ${JSON.stringify(count(errors, (o) => `${o.op}:${o.code}:${o.status}`))}; ` +
          `error latency median ${errorMs[Math.floor(errorMs.length / 2)]} ms, max ${errorMs.at(-1)} ms; ` +
          `/ready 503 x${ready503.length} (+${ready503[0]?.t}..+${ready503.at(-1)?.t} ms, max ${Math.max(...ready503.map((r) => r.ms))} ms); ` +
          `recovery: first success after the last error at +${recoveredAt} ms (${recoveredAt - startAt} ms after the start command); ` +
          `joins ${JSON.stringify(joins)}`,
      );

      // The outage was seen, and every failure said so, fast, with 503: no hang, no "Unexpected error.".
      expect(errors.length).toBeGreaterThan(0);
      for (const o of errors) {
        expect(DB_FAILURE_CODES, JSON.stringify(o)).toContain(o.code);
        expect(o.status, JSON.stringify(o)).toBe(503);
        expect(o.ms, JSON.stringify(o)).toBeLessThan(2_000 + 5_000);
        expect(o.t + o.ms, "no failure before PostgreSQL stopped").toBeGreaterThanOrEqual(stopAt);
      }
      expect(ready503.length).toBeGreaterThan(0);
      for (const r of ready503) expect(r.ms).toBeLessThan(2_000 + 5_000);
      expect(ready.at(-1)?.status).toBe(200);
      // Recovered without a restart of the service: every kind of request works again.
      expect(server.child.exitCode).toBeNull();
      const late = outcomes.filter((o) => o.t >= startedAt + 1_000);
      expect(late.filter((o) => o.code !== null)).toEqual([]);
      expect(new Set(late.map((o) => o.op))).toEqual(new Set(["read", "invite", "createLink", "join"]));
      expect(await call("read", admin.token, ORG, { org: orgId })).toMatchObject({ status: 200, code: null });

      // Nothing half-applied: every change came with its audit event, in the same transaction.
      const client = new pg.Client({ connectionString: dbUrl });
      await client.connect();
      try {
        const q = async (sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows;
        const linkRows = await q(`
          SELECT l.id, l.uses, l."maxUses",
            (SELECT count(*)::int FROM "AuditEvent" a WHERE a.action = 'link.used' AND a."targetId" = l.id) AS used,
            (SELECT count(*)::int FROM "AuditEvent" a WHERE a.action = 'link.created' AND a."targetId" = l.id) AS created
          FROM "LinkInvite" l`);
        for (const l of linkRows) {
          expect(l, "a link's uses = its link.used events, within maxUses, one link.created").toMatchObject({
            uses: l.used,
            created: 1,
          });
          if (l.maxUses !== null) expect(l.uses).toBeLessThanOrEqual(l.maxUses);
        }
        // A join whose answer was lost may have committed: what clients saw bounds the count.
        for (const [which, id] of [
          ["limited", limitedId],
          ["open", openId],
        ] as const) {
          const uses = linkRows.find((l) => l.id === id)?.uses;
          expect(uses).toBeGreaterThanOrEqual(joins[which].ok);
          expect(uses).toBeLessThanOrEqual(joins[which].ok + joins[which].failed);
        }
        const inviteRows = await q(`
          SELECT i.id, i."userId",
            (SELECT count(*)::int FROM "AuditEvent" a WHERE a.action = 'invite.created' AND a."targetId" = i.id) AS created
          FROM "Invite" i`);
        for (const i of inviteRows)
          expect(i, "an invite has its user and one invite.created").toMatchObject({ created: 1 });
        expect(inviteRows.filter((i) => i.userId === null)).toEqual([]);
        const orphans = await q(`
          SELECT a.action, a."targetId" FROM "AuditEvent" a
          WHERE (a.action LIKE 'invite.%' AND NOT EXISTS (SELECT 1 FROM "Invite" i WHERE i.id = a."targetId"))
             OR (a.action LIKE 'link.%' AND NOT EXISTS (SELECT 1 FROM "LinkInvite" l WHERE l.id = a."targetId"))`);
        expect(orphans, "an audit event without its change").toEqual([]);
        const members = await q(
          `SELECT m."userId",
             (SELECT count(*)::int FROM "AuditEvent" a WHERE a.action = 'link.used'
                AND a."actorId" = m."userId" AND a."organizationId" = m."organizationId") AS used
           FROM "Member" m WHERE m."organizationId" = $1 AND m."userId" <> $2`,
          [orgId, admin.id],
        );
        expect(
          members.filter((m) => m.used !== 1),
          "a member without exactly one link.used",
        ).toEqual([]);
        const [events] = await q(
          `SELECT
             (SELECT count(*)::int FROM "AuditEvent" WHERE "organizationId" = $1 AND action = 'link.used') AS used,
             (SELECT count(*)::int FROM "AuditEvent" WHERE "organizationId" = $1
                AND action IN ('invite.created', 'invite.refreshed')) AS invited,
             (SELECT coalesce(sum("count"), 0)::int FROM "InviteQuota" WHERE "organizationId" = $1) AS quota`,
          [orgId],
        );
        expect(events.used, "each link.used made a member").toBe(members.length);
        expect(events.quota, "the invite quota counts each invite sent").toBe(events.invited);
        expect(inviteRows.length).toBeGreaterThan(0);
      } finally {
        await client.end();
      }
    } finally {
      expect(await stopServerProcess(server)).toBe(0);
    }
  });

  it("a pool exhausted by blocked queries answers TIMEOUT within a bound, then serves again", async () => {
    const server = await startServerProcess({
      DATABASE_URL: dbUrl,
      DB_POOL_SIZE: "2",
      DB_CONNECT_TIMEOUT: "1s",
      DB_STATEMENT_TIMEOUT: "2s",
    });
    const locker = new pg.Client({ connectionString: dbUrl });
    await locker.connect();
    try {
      const now = clock();
      const outcomes: Outcome[] = [];
      const call = recorder(server.url, now, outcomes);
      expect(await call("read", admin.token, ORG, { org: orgId })).toMatchObject({ status: 200, code: null });
      outcomes.length = 0;

      // Every query on "Organization" waits for this lock: two of them hold the pool's two
      // connections until statement_timeout, the others wait for a connection until the connect timeout.
      await locker.query('BEGIN; LOCK TABLE "Organization" IN ACCESS EXCLUSIVE MODE');
      const [blocked, ready] = await Promise.all([
        Promise.all(Array.from({ length: 8 }, () => call("read", admin.token, ORG, { org: orgId }))),
        (async () => {
          // /ready once both connections of the pool wait on the lock (seen from another session).
          await waitForLockWaiters(dbUrl, 2);
          return readyProbe(server.url, now);
        })(),
      ]);
      await locker.query("ROLLBACK");
      const ms = blocked.map((o) => o.ms).sort((a, b) => a - b);
      console.log(
        `[faults] pool (DB_POOL_SIZE=2, DB_CONNECT_TIMEOUT=1s, DB_STATEMENT_TIMEOUT=2s): ${blocked.length} requests ` +
          `${JSON.stringify(count(blocked, (o) => `${o.code}:${o.status}`))}, latency ${ms.join("/")} ms; ` +
          `/ready ${ready.status} in ${ready.ms} ms`,
      );
      for (const o of blocked) {
        expect(o, "TIMEOUT, not a hang").toMatchObject({ code: "TIMEOUT", status: 503 });
        expect(o.ms).toBeLessThan(2_000 + 1_000 + 5_000);
      }
      expect(ready.status).toBe(503);
      expect(ready.ms).toBeLessThan(1_000 + 5_000);

      const after = await call("read", admin.token, ORG, { org: orgId });
      expect(after).toMatchObject({ status: 200, code: null, data: { id: orgId, title: "Faults" } });
      expect((await readyProbe(server.url, now)).status).toBe(200);
    } finally {
      await locker.end();
      expect(await stopServerProcess(server)).toBe(0);
    }
  });

  it("SIGTERM with requests in flight: they complete, new connections are refused, exit 0 within the grace", async () => {
    const graceMs = 10_000;
    const server = await startServerProcess({ DATABASE_URL: dbUrl, SHUTDOWN_GRACE: "10s" });
    const locker = new pg.Client({ connectionString: dbUrl });
    await locker.connect();
    try {
      const now = clock();
      const call = recorder(server.url, now, []);
      expect(await call("read", admin.token, ORG, { org: orgId })).toMatchObject({ status: 200, code: null });

      // Hold the requests in flight: their query on "Organization" waits for this lock.
      await locker.query('BEGIN; LOCK TABLE "Organization" IN ACCESS EXCLUSIVE MODE');
      const inflight = Array.from({ length: 6 }, () => call("read", admin.token, ORG, { org: orgId }));
      await waitForLockWaiters(dbUrl, inflight.length);

      const termAt = now();
      server.child.kill("SIGTERM");
      await sleep(300);
      const port = Number(new URL(server.url).port);
      const newConnection = await new Promise<string>((resolve) => {
        const socket = connect(port, "127.0.0.1");
        socket.once("connect", () => {
          socket.destroy();
          resolve("connected");
        });
        socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
      });
      const stillRunning = server.child.exitCode === null;
      const releaseAt = now();
      await locker.query("ROLLBACK");
      const results = await Promise.all(inflight);
      const doneAt = Math.max(...results.map((o) => o.t + o.ms));
      const exitCode = await server.exited;
      const exitAt = now();
      console.log(
        `[faults] SIGTERM: ${results.length} in-flight requests ${JSON.stringify(count(results, (o) => `${o.status}:${o.code}`))}; ` +
          `new connection after SIGTERM: ${newConnection}; lock released +${releaseAt - termAt} ms after SIGTERM; ` +
          `in-flight done +${doneAt - termAt} ms, exit ${exitCode} at +${exitAt - termAt} ms after SIGTERM`,
      );
      expect(newConnection).toBe("ECONNREFUSED");
      expect(stillRunning, "the process waits for its in-flight requests").toBe(true);
      for (const o of results) {
        expect(o).toMatchObject({ status: 200, code: null, data: { id: orgId, title: "Faults" } });
      }
      expect(exitCode).toBe(0);
      expect(exitAt - termAt).toBeLessThan(graceMs);
    } finally {
      await locker.end().catch(() => {});
      await stopServerProcess(server);
    }
  });
});
