/**
 * The embedded database after a crash: the real server on a DATA_DIR, killed with SIGKILL in the
 * middle of a burst of writes, starts again (crash recovery, the stale lock taken over) and still
 * holds every write it acknowledged. And the checkpoints that keep that recovery short
 * (src/db/pglite-checkpoints.ts): PGlite makes none of its own. How long the restart takes is measured
 * by bench/recovery.ts, not asserted here.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, describe, expect, it } from "vitest";
import { startCheckpoints } from "../../src/db/pglite-checkpoints.js";
import { runCliProcess, type ServerProcess, startServerProcess, stopServerProcess } from "../helpers/process.js";
import { until } from "../helpers/wait.js";

async function redoPoint(pglite: PGlite): Promise<string> {
  const { rows } = await pglite.query<{ redo: string }>("SELECT redo_lsn::text AS redo FROM pg_control_checkpoint()");
  return rows[0]?.redo ?? "";
}

describe("checkpoints of the embedded database", () => {
  it("PGlite makes none of its own, even past max_wal_size", async () => {
    const pglite = new PGlite({ postgresqlconf: "max_wal_size = 32MB" });
    try {
      const before = await redoPoint(pglite);
      await pglite.exec("CREATE TABLE t (v text)");
      await pglite.exec("INSERT INTO t SELECT repeat(md5(g::text), 30) FROM generate_series(1, 40000) g");
      const { rows } = await pglite.query<{ bytes: number }>(
        "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), redo_lsn)::float8 AS bytes FROM pg_control_checkpoint()",
      );
      expect(rows[0]?.bytes).toBeGreaterThan(32 * 2 ** 20);
      expect(await redoPoint(pglite)).toBe(before);
    } finally {
      await pglite.close();
    }
  });

  it("startCheckpoints makes one once the WAL since the last passes the bound, and stops", async () => {
    const pglite = new PGlite();
    const stop = startCheckpoints(pglite, { everyMs: 20, maxWalBytes: 2 ** 20 });
    try {
      const before = await redoPoint(pglite);
      // Little WAL: no checkpoint.
      await sleep(100);
      expect(await redoPoint(pglite)).toBe(before);
      await pglite.exec("CREATE TABLE t (v text)");
      await pglite.exec("INSERT INTO t SELECT repeat(md5(g::text), 30) FROM generate_series(1, 5000) g");
      await until("a checkpoint", async () => (await redoPoint(pglite)) !== before, 10_000);
    } finally {
      await stop();
    }
    // Stopped: more WAL, no more checkpoints; and nothing of it is left running when PGlite closes.
    const after = await redoPoint(pglite);
    await pglite.exec("INSERT INTO t SELECT repeat(md5(g::text), 30) FROM generate_series(1, 5000) g");
    await sleep(100);
    expect(await redoPoint(pglite)).toBe(after);
    await pglite.close();
  });
});

describe("the real server killed with SIGKILL in a burst of writes (PGlite)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "igw-crash-"));
  const env = { DATA_DIR: dataDir, INVITE_RATE_LIMIT: "10000000" };
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await stopServerProcess(server);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("starts again and holds every acknowledged write", { timeout: 180_000 }, async () => {
    const created = await runCliProcess(["user", "create", "--email", "owner@crash.test"], env);
    expect(created.code, created.stderr).toBe(0);
    const { token } = JSON.parse(created.stdout) as { token: string };
    const first = await startServerProcess(env, { direct: true });
    server = first;
    const gql = async (url: string, query: string, variables: Record<string, unknown> = {}) => {
      const response = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as { data?: any; errors?: unknown[] };
    };
    const org = await gql(
      first.url,
      `mutation { createOrganization(input: { title: "Crash" }) {
        ... on CreateOrganizationSuccess { organization { id } } } }`,
    );
    const organizationId = org.data.createOrganization.organization.id as string;

    // Four clients write as fast as they are answered; an email counts once its call is answered.
    const acknowledged: string[] = [];
    let killed = false;
    let failure: string | undefined;
    let next = 0;
    const client = async () => {
      while (!killed) {
        const emails = Array.from({ length: 20 }, () => `u${next++}@crash.test`);
        const result = await gql(
          first.url,
          `mutation ($o: ID!, $e: [String!]!) {
            inviteUsersToOrganization(organizationId: $o, input: { emails: $e }) { __typename } }`,
          { o: organizationId, e: emails },
        ).catch(() => undefined); // the process died under the request: not acknowledged
        const typename = result?.data?.inviteUsersToOrganization?.__typename;
        if (!killed && typename === "InviteUsersToOrganizationSuccess") acknowledged.push(...emails);
        else if (!killed) {
          failure ??= JSON.stringify(result);
          return;
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await until(
      "400 acknowledged invites",
      () => {
        if (failure) throw new Error(`a write failed: ${failure}`);
        return acknowledged.length >= 400;
      },
      60_000,
    );
    // The kill and the end of counting in one tick: answers that arrive after it do not count.
    killed = true;
    first.child.kill("SIGKILL");
    expect(await first.exited).toBeNull();
    await Promise.all(clients);
    // The dead process's lock is still there: the next start takes it over.
    expect(Number(readFileSync(join(dataDir, "invites-gateway.lock"), "utf8"))).toBe(first.child.pid);

    const second = await startServerProcess(env, { direct: true });
    server = second;
    expect((await fetch(`${second.url}/ready`)).status).toBe(200);
    const found = new Set<string>();
    let after: string | null = null;
    for (;;) {
      const page: any = await gql(
        second.url,
        `query ($o: ID!, $after: String) { organization(id: $o) { invites(first: 1000, after: $after) {
          edges { node { email } } pageInfo { hasNextPage endCursor } } } }`,
        { o: organizationId, after },
      );
      const invites = page.data.organization.invites;
      for (const edge of invites.edges) found.add(edge.node.email);
      if (!invites.pageInfo.hasNextPage) break;
      after = invites.pageInfo.endCursor;
    }
    expect(acknowledged.filter((email) => !found.has(email))).toEqual([]);
    // And it writes again.
    const more = await gql(
      second.url,
      `mutation ($o: ID!) { inviteUsersToOrganization(organizationId: $o, input: { emails: ["again@crash.test"] }) {
        __typename } }`,
      { o: organizationId },
    );
    expect(more.data?.inviteUsersToOrganization.__typename).toBe("InviteUsersToOrganizationSuccess");
    expect(await stopServerProcess(second)).toBe(0);
    server = undefined;
    expect(existsSync(join(dataDir, "invites-gateway.lock"))).toBe(false);
  });
});
