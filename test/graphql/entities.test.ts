/**
 * `_entities` is no existence oracle (issue 12, finding 4): for each entity type and each kind of
 * caller, an entity that exists but that the caller may not see is answered exactly as an id that
 * does not exist (status, data and errors compared whole), alone and in a batch; the entities the
 * caller may see still resolve.
 */
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { newSecretId } from "../../src/domain/ids.js";
import { inviteUsers } from "../../src/domain/invites.js";
import { createLinkInvite } from "../../src/domain/link-invites.js";
import { type GqlResponse, type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const TYPES = ["Organization", "Invite", "LinkInvite", "User"] as const;
type Typename = (typeof TYPES)[number];
const CALLERS = ["anonymous", "stranger", "member", "invitee", "admin"] as const;
type Caller = (typeof CALLERS)[number];

/** Fields under each type's visibility rule (nothing a visible entity would still deny). */
const SELECTION: Record<Typename, string> = {
  Organization: "id title createdAt",
  Invite: "id inviteEmail: email status",
  LinkInvite: "id url role",
  User: "id email",
};
const QUERY = `query($reps: [_Any!]!) { _entities(representations: $reps) {
  __typename ${TYPES.map((t) => `... on ${t} { ${SELECTION[t]} }`).join(" ")} } }`;

/** An id of the type's form that nothing has. */
const unknownId = (typename: Typename) =>
  typename === "Invite" || typename === "LinkInvite" ? newSecretId() : randomUUID();

interface Entity {
  name: string;
  typename: Typename;
  id: string;
  visibleTo: Caller[];
}

const whole = (res: GqlResponse) => ({ status: res.status, data: res.data, errors: res.errors });

describe.each(DB_KINDS)("_entities: hidden is unknown (%s)", (kind) => {
  const app = useTestApp(kind);
  const users = {} as Record<Exclude<Caller, "anonymous">, TestUser>;
  const entities: Entity[] = [];
  const tokenOf = (caller: Caller) => (caller === "anonymous" ? null : users[caller].token);

  beforeAll(async () => {
    const a = app.current;
    const settings = { ttlMs: a.testDb.config.inviteTtlMs, dailyLimit: a.testDb.config.inviteRateLimit };
    for (const caller of ["stranger", "member", "invitee", "admin"] as const) users[caller] = await a.seed.user(caller);
    const org = await a.seed.org(users.admin, "Seen by some");
    await a.seed.member(org.id, users.member, "READ");
    const otherMember = await a.seed.user("other-member");
    await a.seed.member(org.id, otherMember, "EDIT");
    const elsewhere = await a.seed.org(undefined, "Seen by none");
    const actor = { userId: users.admin.id, tokenId: null, subject: null };
    const invite = async (email: string) => {
      const result = await inviteUsers(a.db, { organizationId: org.id, actor, input: { emails: [email] } }, settings);
      return result.invites[0]?.id as string;
    };
    const link = await createLinkInvite(a.db, { organizationId: org.id, actor, input: { role: "READ" } });
    entities.push(
      // Members and invitees may see an organization; nobody here may see the other one.
      { name: "its organization", typename: "Organization", id: org.id, visibleTo: ["member", "invitee", "admin"] },
      { name: "another organization", typename: "Organization", id: elsewhere.id, visibleTo: [] },
      // An invite: the admins of its organization and the invitee.
      {
        name: "the invitee's invite",
        typename: "Invite",
        id: await invite(users.invitee.email),
        visibleTo: ["invitee", "admin"],
      },
      {
        name: "someone else's invite",
        typename: "Invite",
        id: await invite(uniqueEmail("other")),
        visibleTo: ["admin"],
      },
      // A link: admins only, members of its organization not.
      { name: "a link", typename: "LinkInvite", id: link.id, visibleTo: ["admin"] },
      // Users: themselves, co-members, whom an admin's organization invited, and their inviter.
      { name: "the admin", typename: "User", id: users.admin.id, visibleTo: ["member", "invitee", "admin"] },
      { name: "a member", typename: "User", id: otherMember.id, visibleTo: ["member", "admin"] },
      { name: "a stranger's", typename: "User", id: elsewhere.owner.id, visibleTo: [] },
    );
  });

  const ask = (caller: Caller, reps: Array<{ __typename: Typename; id: string }>) =>
    app.current.gql(QUERY, { variables: { reps }, token: tokenOf(caller) });

  it("has a hidden and a visible entity of every type, for some caller", () => {
    for (const typename of TYPES) {
      const ofType = entities.filter((e) => e.typename === typename);
      expect(
        ofType.some((e) => e.visibleTo.length > 0),
        typename,
      ).toBe(true);
      expect(
        ofType.some((e) => e.visibleTo.length < CALLERS.length),
        typename,
      ).toBe(true);
    }
  });

  describe.each(CALLERS)("as %s", (caller) => {
    it("answers each entity it may not see exactly as an unknown id of its type", async () => {
      const hidden = entities.filter((e) => !e.visibleTo.includes(caller));
      expect(hidden.length).toBeGreaterThan(0);
      for (const entity of hidden) {
        const existing = await ask(caller, [{ __typename: entity.typename, id: entity.id }]);
        const unknown = await ask(caller, [{ __typename: entity.typename, id: unknownId(entity.typename) }]);
        expect(whole(existing), entity.name).toEqual(whole(unknown));
        expect(whole(existing), entity.name).toEqual({ status: 200, data: { _entities: [null] }, errors: undefined });
      }
    });

    it("sends as many statements for a hidden organization or user as for an unknown id (no timing oracle)", async () => {
      const hidden = entities.filter(
        (e) => !e.visibleTo.includes(caller) && (e.typename === "Organization" || e.typename === "User"),
      );
      for (const entity of hidden) {
        const existing = await app.current.countQueries(() =>
          ask(caller, [{ __typename: entity.typename, id: entity.id }]),
        );
        const unknown = await app.current.countQueries(() =>
          ask(caller, [{ __typename: entity.typename, id: unknownId(entity.typename) }]),
        );
        expect(existing.count, entity.name).toBe(unknown.count);
      }
    });

    it("resolves the entities it may see, and answers a batch of hidden and unknown ones with nulls only", async () => {
      const batch = entities.flatMap((e) => [
        { __typename: e.typename, id: e.id },
        { __typename: e.typename, id: unknownId(e.typename) },
      ]);
      const res = await ask(caller, batch);
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
      const expected = entities.flatMap((e) => [
        e.visibleTo.includes(caller) ? expect.objectContaining({ __typename: e.typename, id: e.id }) : null,
        null,
      ]);
      expect(res.data?._entities).toEqual(expected);
    });
  });
});
