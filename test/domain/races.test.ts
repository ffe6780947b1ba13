import { randomUUID } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";
import { until } from "../helpers/wait.js";

/**
 * Read-check-write races between admins and joiners. On PostgreSQL these run truly concurrently
 * (READ COMMITTED); each test asserts an invariant that a stale read would break.
 */
const INVITE = `mutation($o: ID!, $e: String!, $r: MemberRole!) {
  inviteUsersToOrganization(organizationId: $o, input: { emails: [$e], role: $r }) {
    __typename ... on Error { code } ... on InviteUsersToOrganizationSuccess { invited alreadyMembers invites { id } } } }`;
const JOIN = `mutation($o: ID!, $i: ID!) { joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
  __typename ... on Error { code } ... on JoinOrganizationWithInviteSuccess { member { role } } } }`;
const REVOKE = `mutation($o: ID!, $i: ID!) { revokeInvite(organizationId: $o, inviteId: $i) {
  __typename ... on Error { code } ... on RevokeInviteSuccess { invite { status } } } }`;
const UPDATE_LINK = `mutation($o: ID!, $i: ID!, $m: Int) { updateLinkInvite(organizationId: $o, inviteId: $i, input: { maxUses: $m }) {
  __typename ... on Error { code } } }`;

const ROUNDS = 12;

describe.each(DB_KINDS)("races (%s)", (kind) => {
  const app = useTestApp(kind);

  async function invitedUsers(orgId: string, adminToken: string, role: string) {
    const users = await Promise.all(Array.from({ length: ROUNDS }, () => app.current.seed.user("racer")));
    const inviteIds: string[] = [];
    for (const u of users) {
      const r = await app.current.gql(INVITE, { token: adminToken, variables: { o: orgId, e: u.email, r: role } });
      inviteIds.push(r.data?.inviteUsersToOrganization.invites[0].id);
    }
    return { users, inviteIds };
  }

  it("revoke vs join: an invite ends ACCEPTED with a member, or REVOKED without one", async () => {
    const { seed, gql, db } = app.current;
    const org = await seed.org();
    const { users, inviteIds } = await invitedUsers(org.id, org.owner.token, "READ");
    const results = await Promise.all(
      users.flatMap((u, i) => [
        gql(REVOKE, { token: org.owner.token, variables: { o: org.id, i: inviteIds[i] } }),
        gql(JOIN, { token: u.token, variables: { o: org.id, i: inviteIds[i] } }),
      ]),
    );
    for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    for (const [i, u] of users.entries()) {
      const invite = await db.invite.findUniqueOrThrow({ where: { id: inviteIds[i] } });
      const member = await db.member.findUnique({
        where: { organizationId_userId: { organizationId: org.id, userId: u.id } },
      });
      const revoke = results[2 * i]?.data?.revokeInvite;
      const join = results[2 * i + 1]?.data?.joinOrganizationWithInvite;
      if (invite.status === "ACCEPTED") {
        expect(member).not.toBeNull();
        expect(join.__typename).toBe("JoinOrganizationWithInviteSuccess");
        expect(revoke.code).toBe("INVITE_ALREADY_ACCEPTED");
      } else {
        expect(invite.status).toBe("REVOKED");
        expect(member).toBeNull();
        expect(revoke.__typename).toBe("RevokeInviteSuccess");
        expect(join.code).toBe("INVITE_REVOKED");
      }
    }
  });

  it("refresh vs join: the member gets the role of the invite as it was accepted", async () => {
    const { seed, gql, db } = app.current;
    const org = await seed.org();
    const { users, inviteIds } = await invitedUsers(org.id, org.owner.token, "READ");
    const results = await Promise.all(
      users.flatMap((u, i) => [
        gql(INVITE, { token: org.owner.token, variables: { o: org.id, e: u.email, r: "EDIT" } }),
        gql(JOIN, { token: u.token, variables: { o: org.id, i: inviteIds[i] } }),
      ]),
    );
    for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    for (const [i, u] of users.entries()) {
      const invite = await db.invite.findUniqueOrThrow({ where: { id: inviteIds[i] } });
      const member = await db.member.findUniqueOrThrow({
        where: { organizationId_userId: { organizationId: org.id, userId: u.id } },
      });
      expect(invite.status).toBe("ACCEPTED");
      expect(member.role).toBe(invite.role);
      const refresh = results[2 * i]?.data?.inviteUsersToOrganization;
      // Refreshed before the join (then the member is EDIT), or saw the member (then nothing changed).
      if (refresh.invited === 1) expect(member.role).toBe("EDIT");
      else
        expect({ role: member.role, alreadyMembers: refresh.alreadyMembers }).toEqual({
          role: "READ",
          alreadyMembers: [u.email],
        });
    }
    expect(await db.invite.count({ where: { organizationId: org.id, status: "PENDING" } })).toBe(0);
  });

  it("lowering maxUses while people join never breaks uses <= maxUses nor crashes", async () => {
    const { seed, gql, db } = app.current;
    const org = await seed.org();
    const link = await db.linkInvite.create({
      data: { id: `race-${Date.now()}`, organizationId: org.id, role: "READ" },
    });
    const joiners = await Promise.all(Array.from({ length: ROUNDS }, () => seed.user("linkracer")));
    const results = await Promise.all([
      ...joiners.map((u) => gql(JOIN, { token: u.token, variables: { o: org.id, i: link.id } })),
      gql(UPDATE_LINK, { token: org.owner.token, variables: { o: org.id, i: link.id, m: 4 } }),
    ]);
    for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    const update = results.at(-1)?.data?.updateLinkInvite;
    const final = await db.linkInvite.findUniqueOrThrow({ where: { id: link.id } });
    const members = await db.member.count({ where: { organizationId: org.id, role: "READ" } });
    expect(final.uses).toBe(members);
    if (update.__typename === "UpdateLinkInviteSuccess") {
      expect(final.maxUses).toBe(4);
      expect(final.uses).toBeLessThanOrEqual(4);
    } else {
      expect(update.code).toBe("VALIDATION");
      expect(final.maxUses).toBeNull();
      expect(final.uses).toBe(ROUNDS);
    }
  });
});

/**
 * inviteUsersToOrganization is one statement (src/domain/invites.ts): its snapshot is taken before it
 * waits for a lock. These hold the lock from another connection, change what the statement has
 * already read, and let it go: the answer must reflect the change, as a statement started after it.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)("invites against a writer holding a lock (postgres)", () => {
  const app = useTestApp("postgres");
  const INVITE_USERS = `mutation($o: ID!, $e: String!) {
    inviteUsersToOrganization(organizationId: $o, input: { emails: [$e], role: EDIT }) {
      __typename ... on Error { code } ... on InviteUsersToOrganizationSuccess {
        invited alreadyMembers users { id } invites { id status } } } }`;

  /** A second connection that holds a transaction open, and waits until the mutation waits for it. */
  async function withLocker(fn: (locker: pg.Client, waiting: () => Promise<void>) => Promise<void>) {
    const url = app.current.testDb.url as string;
    const locker = new pg.Client({ connectionString: url });
    const watcher = new pg.Client({ connectionString: url });
    await Promise.all([locker.connect(), watcher.connect()]);
    const waiting = () =>
      until("the mutation to wait for the lock", async () => {
        const { rows } = await watcher.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        return rows.length > 0;
      }).then(() => undefined);
    try {
      await fn(locker, waiting);
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      await Promise.all([locker.end(), watcher.end()]);
    }
  }

  it("an invite accepted while the refresh waits for its lock: alreadyMembers, and no new PENDING invite", async () => {
    const { seed, gql, db } = app.current;
    const org = await seed.org();
    const user = await seed.user("accepted-meanwhile");
    const first = await gql(INVITE_USERS, { token: org.owner.token, variables: { o: org.id, e: user.email } });
    const inviteId = first.data?.inviteUsersToOrganization.invites[0].id;
    await withLocker(async (locker, waiting) => {
      await locker.query("BEGIN");
      await locker.query(`SELECT 1 FROM "Invite" WHERE "id" = $1 FOR UPDATE`, [inviteId]);
      const refresh = gql(INVITE_USERS, { token: org.owner.token, variables: { o: org.id, e: user.email } });
      await waiting();
      await locker.query(
        `UPDATE "Invite" SET "status" = 'ACCEPTED', "acceptedAt" = now(), "userId" = $2 WHERE "id" = $1`,
        [inviteId, user.id],
      );
      await locker.query(`INSERT INTO "Member" ("organizationId", "userId", "role") VALUES ($1, $2, 'EDIT')`, [
        org.id,
        user.id,
      ]);
      await locker.query("COMMIT");
      const res = await refresh;
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
      expect(res.data?.inviteUsersToOrganization).toEqual({
        __typename: "InviteUsersToOrganizationSuccess",
        invited: 0,
        alreadyMembers: [user.email],
        users: [],
        invites: [],
      });
    });
    expect(await db.invite.count({ where: { organizationId: org.id, status: "PENDING" } })).toBe(0);
    expect(await db.auditEvent.count({ where: { organizationId: org.id, action: "invite.refreshed" } })).toBe(0);
  });

  it("a user created by another transaction while the invite waits: the invite is that user's", async () => {
    const { seed, gql, db } = app.current;
    const org = await seed.org();
    const email = uniqueEmail("created-meanwhile");
    const userId = randomUUID();
    await withLocker(async (locker, waiting) => {
      await locker.query("BEGIN");
      await locker.query(
        `INSERT INTO "User" ("id", "email", "emailVerified", "createdAt", "updatedAt") VALUES ($1, $2, false, now(), now())`,
        [userId, email],
      );
      const invite = gql(INVITE_USERS, { token: org.owner.token, variables: { o: org.id, e: email } });
      await waiting();
      await locker.query("COMMIT");
      const res = await invite;
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
      expect(res.data?.inviteUsersToOrganization).toMatchObject({ invited: 1, users: [{ id: userId }] });
      const stored = await db.invite.findUniqueOrThrow({
        where: { id: res.data?.inviteUsersToOrganization.invites[0].id },
      });
      expect(stored.userId).toBe(userId);
    });
    expect(await db.user.count({ where: { email } })).toBe(1);
  });
});
