import { describe, expect, it } from "vitest";
import { useTestApp } from "./helpers/app.js";
import { DB_KINDS } from "./helpers/db.js";

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
