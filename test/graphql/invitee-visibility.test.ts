/**
 * What an inviting admin sees of the people they invite (issue 12, finding 5): anyone may create an
 * organization and invite any address, so an invite must not turn an address into a profile. Of an
 * invitee who shares no organization with them, an admin sees the id and the email the invite was
 * sent to; the name only once they share an organization.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type GqlResponse, type TestApp, type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const CREATE_ORGANIZATION = `mutation($title: String!) { createOrganization(input: { title: $title }) {
  ... on CreateOrganizationSuccess { organization { id } } } }`;
const INVITE = `mutation($o: ID!, $emails: [String!]!) { inviteUsersToOrganization(organizationId: $o, input: { emails: $emails }) {
  __typename ... on InviteUsersToOrganizationSuccess {
    invited users { id email displayName organizations { role } } invites { id user { id email displayName } } } } }`;
const USER_ENTITY = `query($id: ID!) { _entities(representations: [{ __typename: "User", id: $id }]) {
  ... on User { id email displayName organizations { role } } } }`;

const denials = (res: GqlResponse) =>
  (res.errors ?? [])
    .map((e) => ({ code: e.extensions?.code, path: e.path?.join(".") }))
    .sort((a, b) => String(a.path).localeCompare(String(b.path)));

describe.each(DB_KINDS)("what an inviting admin sees of an invitee (%s)", (kind) => {
  const app = useTestApp(kind);
  let a: TestApp;
  let attacker: TestUser;
  let orgId: string;

  /** A registered person with a name, a member of an organization of their own. */
  async function person(prefix: string, name: string): Promise<TestUser> {
    const user = await a.seed.user(prefix);
    await a.db.user.update({ where: { id: user.id }, data: { displayName: name } });
    await a.seed.org(user, `${name}'s team`);
    return user;
  }

  beforeAll(async () => {
    a = app.current;
    attacker = await a.seed.user("attacker");
    await a.db.user.update({ where: { id: attacker.id }, data: { displayName: "Mallory" } });
    const created = await a.gql(CREATE_ORGANIZATION, { variables: { title: "Lookup Inc" }, token: attacker.token });
    orgId = created.data?.createOrganization.organization.id;
  });

  it("the invite's payload names the user by id and the invited email only: no name, no organizations", async () => {
    const victim = await person("victim", "Victor Victim");
    const res = await a.gql(INVITE, { variables: { o: orgId, emails: [victim.email] }, token: attacker.token });
    const payload = res.data?.inviteUsersToOrganization;
    expect(payload.__typename, JSON.stringify(res)).toBe("InviteUsersToOrganizationSuccess");
    expect(payload.invited).toBe(1);
    expect(payload.users).toEqual([{ id: victim.id, email: victim.email, displayName: null, organizations: [] }]);
    expect(payload.invites).toEqual([
      { id: expect.any(String), user: { id: victim.id, email: victim.email, displayName: null } },
    ]);
    expect(denials(res)).toEqual([
      { code: "FORBIDDEN", path: "inviteUsersToOrganization.invites.0.user.displayName" },
      { code: "FORBIDDEN", path: "inviteUsersToOrganization.users.0.displayName" },
    ]);
    expect(JSON.stringify(res)).not.toContain("Victor Victim");

    // The same through _entities and the organization's invites.
    const entity = await a.gql(USER_ENTITY, { variables: { id: victim.id }, token: attacker.token });
    expect(entity.data?._entities).toEqual([
      { id: victim.id, email: victim.email, displayName: null, organizations: [] },
    ]);
    expect(denials(entity)).toEqual([{ code: "FORBIDDEN", path: "_entities.0.displayName" }]);
    const listed = await a.gql(
      `query($o: ID!) { organization(id: $o) { invites { edges { node { email user { id displayName } } } } } }`,
      { variables: { o: orgId }, token: attacker.token },
    );
    expect(JSON.stringify(listed)).not.toContain("Victor Victim");
    expect(listed.data?.organization.invites.edges).toContainEqual({
      node: { email: victim.email, user: { id: victim.id, displayName: null } },
    });
  });

  it("the invitee still sees who invited them; once they join, the admin sees their name", async () => {
    const invitee = await person("joiner", "Jo Joiner");
    const res = await a.gql(INVITE, { variables: { o: orgId, emails: [invitee.email] }, token: attacker.token });
    const inviteId = res.data?.inviteUsersToOrganization.invites[0].id as string;

    const mine = await a.gql("{ viewer { pendingInvites { id invitedBy { id displayName } } } }", {
      token: invitee.token,
    });
    expect(mine.errors).toBeUndefined();
    expect(mine.data?.viewer.pendingInvites).toContainEqual({
      id: inviteId,
      invitedBy: { id: attacker.id, displayName: "Mallory" },
    });

    const joined = await a.gql(
      `mutation($o: ID!, $i: ID!) { joinOrganizationWithInvite(organizationId: $o, inviteId: $i) { __typename } }`,
      { variables: { o: orgId, i: inviteId }, token: invitee.token },
    );
    expect(joined.data?.joinOrganizationWithInvite.__typename).toBe("JoinOrganizationWithInviteSuccess");
    const entity = await a.gql(USER_ENTITY, { variables: { id: invitee.id }, token: attacker.token });
    expect(entity.errors).toBeUndefined();
    expect(entity.data?._entities).toEqual([
      { id: invitee.id, email: invitee.email, displayName: "Jo Joiner", organizations: [{ role: "READ" }] },
    ]);
  });

  it("an invitee whose email is no longer the invited address shows only the id", async () => {
    const invitee = await person("moved", "Moe Moved");
    await a.gql(INVITE, { variables: { o: orgId, emails: [invitee.email] }, token: attacker.token });
    // Their identity provider now vouches for another address (src/domain/users.ts claimVerifiedEmail).
    const newEmail = uniqueEmail("moved-to");
    await a.db.user.update({ where: { id: invitee.id }, data: { email: newEmail } });
    const entity = await a.gql(USER_ENTITY, { variables: { id: invitee.id }, token: attacker.token });
    expect(entity.data?._entities).toEqual([{ id: invitee.id, email: null, displayName: null, organizations: [] }]);
    expect(denials(entity)).toEqual([
      { code: "FORBIDDEN", path: "_entities.0.displayName" },
      { code: "FORBIDDEN", path: "_entities.0.email" },
    ]);
    expect(JSON.stringify(entity)).not.toContain(newEmail);
  });
});
