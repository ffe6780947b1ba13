import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createDatabase, type Database } from "../../src/db/client.js";
import { createOrganization } from "../../src/domain/organizations.js";
import { createUserWithToken } from "../../src/domain/users.js";
import { uniqueEmail } from "../helpers/app.js";
import { adminQuery } from "../helpers/db.js";
import { startServerProcess, stopServerProcess } from "../helpers/process.js";
import { post, type Replica, type Response, replicaOf } from "../helpers/replicas.js";

/**
 * An organization always keeps an ADMIN, also when its last two admins act at the same moment on two
 * replicas of one PostgreSQL database: demoting each other, both leaving, or one removing the other
 * while that one leaves. Each round races the two calls (one per replica) in a fresh organization and
 * then checks that exactly one admin remains, that one call succeeded and the other is LAST_ADMIN,
 * and that the audit log holds exactly the one change that happened.
 */
const SERVER_URL = process.env.TEST_DATABASE_URL;
const title = SERVER_URL
  ? "the last admin under concurrent calls on two replicas"
  : "the last admin under concurrent calls on two replicas (skipped: set TEST_DATABASE_URL to a PostgreSQL server where databases may be created)";

const ROUNDS = Number(process.env.LAST_ADMIN_ROUNDS ?? 40);

const DEMOTE = `mutation($o: ID!, $u: ID!) { r: updateMemberRole(organizationId: $o, userId: $u, role: EDIT) {
  __typename ... on Error { code } } }`;
const REMOVE = `mutation($o: ID!, $u: ID!) { r: removeMember(organizationId: $o, userId: $u) { __typename ... on Error { code } } }`;
const LEAVE = `mutation($o: ID!) { r: leaveOrganization(organizationId: $o) { __typename ... on Error { code } } }`;

function tally(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

type Race = "demote each other" | "both leave" | "remove each other";

describe.skipIf(!SERVER_URL)(title, () => {
  const name = `igw_t_${randomBytes(6).toString("hex")}`;
  let db: Database;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    await adminQuery(SERVER_URL as string, `CREATE DATABASE ${name}`);
    const u = new URL(SERVER_URL as string);
    u.pathname = `/${name}`;
    const url = u.toString();
    const env = { DATABASE_URL: url, DB_POOL_SIZE: "10", DB_CONNECT_TIMEOUT: "30s" };
    // One after the other: the second finds every migration applied.
    for (let i = 0; i < 2; i++) {
      replicas.push(replicaOf(await startServerProcess(env)));
    }
    db = await createDatabase(loadConfig({ NODE_ENV: "test", DATABASE_URL: url, DB_POOL_SIZE: "10" }));
  });

  afterAll(async () => {
    await Promise.all(replicas.map((r) => stopServerProcess(r.server)));
    for (const r of replicas) r.agent.destroy();
    await db?.close();
    await adminQuery(SERVER_URL as string, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  /** A fresh organization whose only admins are `a` and `b`, with a READ member besides. */
  async function twoAdmins() {
    const [a, b, reader] = await Promise.all(
      ["a", "b", "reader"].map((p) => createUserWithToken(db.prisma, { email: uniqueEmail(`race-${p}`) })),
    );
    if (!a || !b || !reader) throw new Error("users not created");
    const org = await createOrganization(db.prisma, a.user.id, "Race");
    await db.prisma.member.createMany({
      data: [
        { organizationId: org.id, userId: b.user.id, role: "ADMIN" },
        { organizationId: org.id, userId: reader.user.id, role: "READ" },
      ],
    });
    return { orgId: org.id, a: { id: a.user.id, token: a.token }, b: { id: b.user.id, token: b.token } };
  }

  it.each<Race>(["demote each other", "both leave", "remove each other"])(
    `%s: ${ROUNDS} rounds across both replicas leave exactly one admin each time`,
    async (race) => {
      const outcomes: string[] = [];
      const started = Date.now();
      for (let round = 0; round < ROUNDS; round++) {
        const { orgId, a, b } = await twoAdmins();
        // Alternate which replica serves which admin.
        const [ra, rb] = (round % 2 ? [replicas[1], replicas[0]] : [replicas[0], replicas[1]]) as [Replica, Replica];
        const calls: [Promise<Response>, Promise<Response>] =
          race === "demote each other"
            ? [post(ra, DEMOTE, { o: orgId, u: b.id }, a.token), post(rb, DEMOTE, { o: orgId, u: a.id }, b.token)]
            : race === "both leave"
              ? [post(ra, LEAVE, { o: orgId }, a.token), post(rb, LEAVE, { o: orgId }, b.token)]
              : [post(ra, REMOVE, { o: orgId, u: b.id }, a.token), post(rb, REMOVE, { o: orgId, u: a.id }, b.token)];
        const results = await Promise.all(calls);
        // A call whose caller lost admin rights before its rule ran is FORBIDDEN (a top-level error);
        // one that passed its rule and then found the other's change committed is LAST_ADMIN.
        const names = results.map((res) => {
          expect([200, 403], JSON.stringify(res.body)).toContain(res.status);
          const denied = res.body.errors?.[0]?.extensions?.code as string | undefined;
          return denied ?? ((res.body.data?.r.code ?? res.body.data?.r.__typename) as string);
        });
        outcomes.push(...names);
        const admins = await db.prisma.member.count({ where: { organizationId: orgId, role: "ADMIN" } });
        expect(admins, `round ${round}: ${names.join(", ")}`).toBe(1);
        const refused = names.filter((n) => n === "LAST_ADMIN" || n === "FORBIDDEN");
        expect(refused, `round ${round}: one change, one refusal: ${names.join(", ")}`).toHaveLength(1);
        const events = await db.prisma.auditEvent.count({ where: { organizationId: orgId } });
        expect(events, `round ${round}: one change, one event`).toBe(1);
        expect(await db.prisma.member.count({ where: { organizationId: orgId } })).toBe(
          race === "demote each other" ? 3 : 2,
        );
      }
      console.info(
        `last admin, ${race}: ${ROUNDS} rounds on two replicas: ${JSON.stringify(tally(outcomes))}, ${Date.now() - started} ms`,
      );
    },
  );
});
