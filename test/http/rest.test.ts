/**
 * The REST twin (/v1): GitBook's Organization invites operations at their paths, answered through
 * the same Yoga instance (yoga.fetch here, no socket). Every success and error body is validated
 * with ajv against the OpenAPI document the service serves, whose schemas are GitBook's excerpt.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { beforeAll, describe, expect, it } from "vitest";
import { createUserWithToken } from "../../src/domain/users.js";
import excerpt from "../../src/http/rest/gitbook-openapi-excerpt.json" with { type: "json" };
import { type TestApp, type TestUser, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";
import { postInChunks } from "../helpers/socket.js";

type Json = Record<string, any>;

const MISSION_EXCERPT = "/work/shared/mission/gitbook-openapi-invites-excerpt.json";

describe("the OpenAPI excerpt", () => {
  it.skipIf(!existsSync(MISSION_EXCERPT))("in the repository is the mission's, unchanged", () => {
    expect(excerpt).toEqual(JSON.parse(readFileSync(MISSION_EXCERPT, "utf8")));
  });
});

describe.each(DB_KINDS)("REST twin /v1 (%s)", (kind) => {
  const app = useTestApp(kind);
  let a: TestApp;
  let doc: Json;
  let ajv: InstanceType<typeof Ajv2020>;

  beforeAll(async () => {
    a = app.current;
    const res = await a.yoga.fetch("http://localhost/v1/openapi.json");
    expect(res.status).toBe(200);
    doc = (await res.json()) as Json;
    // strict: false: OpenAPI's own keywords (example, the int32 format) are annotations here.
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
  });

  async function rest(
    method: string,
    path: string,
    options: { token?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await a.yoga.fetch(`http://localhost/v1${path}`, { method, headers, body });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text ? (JSON.parse(text) as Json) : undefined };
  }

  /** The schema of `status`'s JSON body for the operation at `template`, from the served document. */
  function responseSchema(template: string, method: string, status: number): Json | undefined {
    let response = doc.paths[template]?.[method.toLowerCase()]?.responses?.[String(status)];
    expect(response, `${method} ${template} documents ${status}`).toBeDefined();
    if (response.$ref) response = doc.components.responses[response.$ref.split("/").at(-1)];
    return response.content?.["application/json"]?.schema;
  }

  /** Asserts the status, and that the body matches the documented schema (refs resolved in the document). */
  function conforms(
    res: { status: number; json?: Json; text: string },
    template: string,
    method: string,
    status: number,
  ) {
    expect(res.status, res.text).toBe(status);
    // Every error says what went wrong in a machine-readable `reason`.
    if (status >= 400) expect(res.json?.error?.reason, res.text).toMatch(/^[A-Z_]+$/);
    const schema = responseSchema(template, method, status);
    if (!schema) {
      expect(res.text).toBe("");
      return;
    }
    const validate = ajv.compile({ ...schema, components: doc.components });
    const ok = validate(res.json);
    expect(ok, `${method} ${template} ${status}: ${JSON.stringify(validate.errors)} in ${res.text}`).toBe(true);
  }

  async function verifiedUserAt(domain: string): Promise<TestUser> {
    const { user, token } = await createUserWithToken(a.db, {
      email: uniqueEmail("rest").replace("example.com", domain),
    });
    return { id: user.id, email: user.email as string, token };
  }

  const INVITES = "/orgs/{organizationId}/invites";
  const JOIN_INVITE = "/orgs/{organizationId}/invites/{inviteId}";
  const LINKS = "/orgs/{organizationId}/link-invites";
  const LINK = "/orgs/{organizationId}/link-invites/{inviteId}";
  const JOIN = "/orgs/{organizationId}/join";
  const MEMBERS = "/orgs/{organizationId}/members";
  const MEMBER = "/orgs/{organizationId}/members/{userId}";

  it("serves an OpenAPI 3.1 document holding every operation and the excerpt's schemas unchanged", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers[0].url).toMatch(/\/v1$/);
    const operations = Object.entries(doc.paths as Json).flatMap(([path, ops]) =>
      Object.entries(ops as Json).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`),
    );
    expect(operations.sort()).toEqual(
      [
        `POST ${INVITES} inviteUsersToOrganization`,
        `POST ${JOIN_INVITE} joinOrganizationWithInvite`,
        `GET ${LINKS} listOrganizationInviteLinks`,
        `POST ${LINKS} createOrganizationInvite`,
        `GET ${LINK} getOrganizationInviteLink`,
        `PATCH ${LINK} updateOrganizationInviteById`,
        `DELETE ${LINK} deleteOrganizationInviteById`,
        `POST ${JOIN} joinOrganization`,
        `GET ${MEMBERS} listMembersInOrganizationById`,
        `GET ${MEMBER} getMemberInOrganizationById`,
        `PATCH ${MEMBER} updateMemberInOrganizationById`,
        `DELETE ${MEMBER} removeMemberFromOrganizationById`,
      ].sort(),
    );
    for (const [name, schema] of Object.entries(excerpt.components.schemas)) {
      expect(doc.components.schemas[name], name).toEqual(schema);
    }
    // Every $ref resolves (the excerpt's Space, Collection and NotFoundError are completed).
    const refs = JSON.stringify(doc).match(/"#\/components\/[^"]+"/g) ?? [];
    for (const ref of new Set(refs)) {
      const [, , section, name] = JSON.parse(ref).split("/");
      expect(doc.components[section]?.[name], ref).toBeDefined();
    }
  });

  it("members: list (role, search, sort, order, page/limit), get, patch, delete (205, 204; yourself = leaving), LAST_ADMIN a 400", async () => {
    const org = await a.seed.org();
    const token = org.owner.token;
    const named = async (prefix: string, name: string, role: "READ" | "EDIT" | "GUEST") => {
      const user = await a.seed.user(prefix);
      await a.db.user.update({ where: { id: user.id }, data: { displayName: name } });
      await a.seed.member(org.id, user, role);
      return user;
    };
    const bea = await named("bea", "Bea Reader", "READ");
    const cid = await named("cid", "Cid Editor", "EDIT");
    const gus = await named("gus", "Gus Guest", "GUEST");

    const all = await rest("GET", `/orgs/${org.id}/members`, { token });
    conforms(all, MEMBERS, "GET", 200);
    expect(all.json?.count).toBe(4);
    // Newest first by default: the owner joined first.
    expect(all.json?.items.map((m: Json) => m.id)).toEqual([gus.id, cid.id, bea.id, org.owner.id]);
    expect(all.json?.items[0]).toMatchObject({
      object: "member",
      id: gus.id,
      role: null,
      disabled: false,
      sso: false,
      user: { object: "user", id: gus.id, displayName: "Gus Guest", email: gus.email },
    });
    expect(all.json?.items[0].user.urls.location).toMatch(new RegExp(`/v1/orgs/${org.id}/members/${gus.id}$`));
    const byName = await rest("GET", `/orgs/${org.id}/members?sort=name&order=asc&search=e`, { token });
    conforms(byName, MEMBERS, "GET", 200);
    // "e" is in every email (example.com): all four, the owner (no name) last.
    expect(byName.json?.items.map((m: Json) => m.id)).toEqual([bea.id, cid.id, gus.id, org.owner.id]);
    const search = await rest("GET", `/orgs/${org.id}/members?search=CID%20ed`, { token });
    expect(search.json?.items.map((m: Json) => m.id)).toEqual([cid.id]);
    const guests = await rest("GET", `/orgs/${org.id}/members?role=guest`, { token });
    expect(guests.json?.items.map((m: Json) => m.id)).toEqual([gus.id]);
    const first = await rest("GET", `/orgs/${org.id}/members?limit=2&order=asc`, { token });
    expect(first.json?.items.map((m: Json) => m.id)).toEqual([org.owner.id, bea.id]);
    const second = await rest("GET", `/orgs/${org.id}/members?limit=2&order=asc&page=${first.json?.next.page}`, {
      token,
    });
    expect(second.json?.items.map((m: Json) => m.id)).toEqual([cid.id, gus.id]);
    expect(second.json?.next).toBeUndefined();
    for (const query of ["sort=lastSeenAt", "sort=title", "order=up", "role=owner", "limit=-1"]) {
      conforms(await rest("GET", `/orgs/${org.id}/members?${query}`, { token }), MEMBERS, "GET", 400);
    }

    const one = await rest("GET", `/orgs/${org.id}/members/${cid.id}`, { token: bea.token });
    conforms(one, MEMBER, "GET", 200);
    expect(one.json).toMatchObject({ id: cid.id, role: "edit" });
    const stranger = await a.seed.user("stranger");
    conforms(await rest("GET", `/orgs/${org.id}/members/${stranger.id}`, { token }), MEMBER, "GET", 404);
    conforms(await rest("GET", `/orgs/${org.id}/members/${cid.id}`, { token: stranger.token }), MEMBER, "GET", 403);
    conforms(await rest("GET", `/orgs/${org.id}/members/${cid.id}`, {}), MEMBER, "GET", 401);

    const patched = await rest("PATCH", `/orgs/${org.id}/members/${bea.id}`, { token, body: { role: "comment" } });
    conforms(patched, MEMBER, "PATCH", 200);
    expect(patched.json).toMatchObject({ id: bea.id, role: "comment" });
    const toGuest = await rest("PATCH", `/orgs/${org.id}/members/${bea.id}`, { token, body: { role: null } });
    expect(toGuest.json?.role).toBeNull();
    conforms(await rest("PATCH", `/orgs/${org.id}/members/${bea.id}`, { token, body: {} }), MEMBER, "PATCH", 400);
    conforms(
      await rest("PATCH", `/orgs/${org.id}/members/${bea.id}`, { token, body: { role: "owner" } }),
      MEMBER,
      "PATCH",
      400,
    );
    const lastAdmin = await rest("PATCH", `/orgs/${org.id}/members/${org.owner.id}`, { token, body: { role: "read" } });
    conforms(lastAdmin, MEMBER, "PATCH", 400);
    expect(lastAdmin.json?.error.reason).toBe("LAST_ADMIN");
    conforms(
      await rest("PATCH", `/orgs/${org.id}/members/${stranger.id}`, { token, body: { role: "read" } }),
      MEMBER,
      "PATCH",
      404,
    );
    conforms(
      await rest("PATCH", `/orgs/${org.id}/members/${gus.id}`, { token: cid.token, body: { role: "read" } }),
      MEMBER,
      "PATCH",
      403,
    );

    conforms(await rest("DELETE", `/orgs/${org.id}/members/${gus.id}`, { token: cid.token }), MEMBER, "DELETE", 403);
    conforms(await rest("DELETE", `/orgs/${org.id}/members/${gus.id}`, { token }), MEMBER, "DELETE", 205);
    conforms(await rest("DELETE", `/orgs/${org.id}/members/${gus.id}`, { token }), MEMBER, "DELETE", 204);
    // Yourself: leaving, any member.
    conforms(await rest("DELETE", `/orgs/${org.id}/members/${cid.id}`, { token: cid.token }), MEMBER, "DELETE", 205);
    const last = await rest("DELETE", `/orgs/${org.id}/members/${org.owner.id}`, { token });
    conforms(last, MEMBER, "DELETE", 400);
    expect(last.json?.error.reason).toBe("LAST_ADMIN");
    const left = await a.db.auditEvent.findMany({
      where: { organizationId: org.id, action: { in: ["member.removed", "member.left"] } },
      orderBy: { createdAt: "asc" },
      select: { action: true, targetId: true },
    });
    expect(left).toEqual([
      { action: "member.removed", targetId: gus.id },
      { action: "member.left", targetId: cid.id },
    ]);
  });

  it("POST /orgs/{id}/invites: 200 {users, invited, failedSSOEmails}, lower-case roles, null = guest", async () => {
    const org = await a.seed.org();
    const known = await a.seed.user("known");
    const fresh = uniqueEmail("fresh");
    const guest = uniqueEmail("guest");
    const res = await rest("POST", `/orgs/${org.id}/invites`, {
      token: org.owner.token,
      body: { emails: [known.email, { email: fresh, role: "edit" }, { email: guest, role: null }], role: "comment" },
    });
    conforms(res, INVITES, "POST", 200);
    expect(res.json?.invited).toBe(3);
    expect(res.json?.failedSSOEmails).toEqual([]);
    expect(res.json?.users).toHaveLength(3);
    expect(res.json?.users).toContain(known.id);
    const invites = await a.db.invite.findMany({ where: { organizationId: org.id } });
    const roleOf = (email: string) => invites.find((i) => i.email === email)?.role;
    expect([roleOf(known.email), roleOf(fresh), roleOf(guest)]).toEqual(["COMMENT", "EDIT", "GUEST"]);
  });

  it("POST /orgs/{id}/invites: 400 for a bad body, a bad email (nothing written), not JSON; 401; 403", async () => {
    const org = await a.seed.org();
    const member = await a.seed.user("member");
    await a.seed.member(org.id, member, "EDIT");
    const bad = [
      { body: { emails: "x@example.com" } },
      { body: { emails: [uniqueEmail()], role: "owner" } },
      { body: { emails: [uniqueEmail(), "not an email"] } },
      { rawBody: "{not json", headers: { "content-type": "application/json" } },
      { rawBody: `{"emails":["${uniqueEmail()}"]}`, headers: { "content-type": "text/plain" } },
    ];
    for (const options of bad) {
      const res = await rest("POST", `/orgs/${org.id}/invites`, { token: org.owner.token, ...options });
      conforms(res, INVITES, "POST", 400);
    }
    expect(await a.db.invite.count({ where: { organizationId: org.id } })).toBe(0);
    const body = { emails: [uniqueEmail()] };
    conforms(await rest("POST", `/orgs/${org.id}/invites`, { body }), INVITES, "POST", 401);
    conforms(await rest("POST", `/orgs/${org.id}/invites`, { body, token: "igw_not_a_token" }), INVITES, "POST", 401);
    conforms(await rest("POST", `/orgs/${org.id}/invites`, { body, token: member.token }), INVITES, "POST", 403);
    const stranger = await a.seed.user("stranger");
    const unknownOrg = "00000000-0000-4000-8000-000000000000";
    conforms(await rest("POST", `/orgs/${unknownOrg}/invites`, { body, token: stranger.token }), INVITES, "POST", 403);
    expect(await a.db.invite.count({ where: { organizationId: org.id } })).toBe(0);
  });

  it("link invites: create 201, get 200, list with page/limit, patch 200, delete 205 then 204", async () => {
    const org = await a.seed.org();
    const token = org.owner.token;
    const created = await rest("POST", `/orgs/${org.id}/link-invites`, { token, body: { role: "read" } });
    conforms(created, LINKS, "POST", 201);
    expect(created.json).toMatchObject({ object: "invite", role: "read", redundant: true, status: "active" });
    const space = await rest("POST", `/orgs/${org.id}/link-invites`, {
      token,
      body: { level: "edit", space: "space-1" },
    });
    conforms(space, LINKS, "POST", 201);
    expect(space.json).toMatchObject({ level: "edit", space: { object: "space", id: "space-1" } });
    const collection = await rest("POST", `/orgs/${org.id}/link-invites`, {
      token,
      body: { level: "comment", collection: "col-1", maxUses: 3 },
    });
    conforms(collection, LINKS, "POST", 201);
    expect(collection.json).toMatchObject({ level: "comment", collection: { id: "col-1" }, maxUses: 3 });
    const guestLink = await rest("POST", `/orgs/${org.id}/link-invites`, { token, body: { role: "admin" } });
    conforms(guestLink, LINKS, "POST", 201);
    expect(guestLink.json?.role).toBe("admin");
    // null (guest) is a role GitBook's schema allows, but a link granting GUEST is the domain's VALIDATION.
    const guest = await rest("POST", `/orgs/${org.id}/link-invites`, { token, body: { role: null } });
    conforms(guest, LINKS, "POST", 400);
    expect(guest.json?.error.reason).toBe("VALIDATION");

    const id = created.json?.id as string;
    const got = await rest("GET", `/orgs/${org.id}/link-invites/${id}`, { token });
    conforms(got, LINK, "GET", 200);
    expect(got.json).toEqual(created.json);

    const page1 = await rest("GET", `/orgs/${org.id}/link-invites?limit=3`, { token });
    conforms(page1, LINKS, "GET", 200);
    expect(page1.json?.count).toBe(4);
    expect(page1.json?.items).toHaveLength(3);
    expect(page1.json?.items[0].id).toBe(guestLink.json?.id); // newest first
    const page2 = await rest(
      "GET",
      `/orgs/${org.id}/link-invites?limit=3&page=${encodeURIComponent(page1.json?.next.page)}`,
      {
        token,
      },
    );
    conforms(page2, LINKS, "GET", 200);
    expect(page2.json?.items.map((i: Json) => i.id)).toEqual([id]);
    expect(page2.json?.next).toBeUndefined();
    const all = await rest("GET", `/orgs/${org.id}/link-invites?limit=&page=`, { token });
    expect(all.json?.items).toHaveLength(4);

    const patched = await rest("PATCH", `/orgs/${org.id}/link-invites/${id}`, { token, body: { role: "comment" } });
    conforms(patched, LINK, "PATCH", 200);
    expect(patched.json).toMatchObject({ id, role: "comment" });
    const patchedSpace = await rest("PATCH", `/orgs/${org.id}/link-invites/${space.json?.id}`, {
      token,
      body: { level: "read" },
    });
    conforms(patchedSpace, LINK, "PATCH", 200);
    expect(patchedSpace.json?.level).toBe("read");
    const gotSpace = await rest("GET", `/orgs/${org.id}/link-invites/${space.json?.id}`, { token });
    conforms(gotSpace, LINK, "GET", 200);
    expect(gotSpace.json).not.toHaveProperty("role");

    const deleted = await rest("DELETE", `/orgs/${org.id}/link-invites/${id}`, { token });
    expect(deleted.status).toBe(205);
    expect(deleted.text).toBe("");
    const again = await rest("DELETE", `/orgs/${org.id}/link-invites/${id}`, { token });
    expect(again.status).toBe(205); // revoked, still there: revoking twice is harmless
    const never = await rest("DELETE", `/orgs/${org.id}/link-invites/NoSuchLink123`, { token });
    expect(never.status).toBe(204);
    expect(never.text).toBe("");
    const revoked = await rest("GET", `/orgs/${org.id}/link-invites/${id}`, { token });
    expect(revoked.json?.status).toBe("revoked");
  });

  it("link invites: 400 bad body or limit, 401 anonymous, 403 non-admin, 404 unknown invite", async () => {
    const org = await a.seed.org();
    const token = org.owner.token;
    const editor = await a.seed.user("editor");
    await a.seed.member(org.id, editor, "EDIT");
    const link = (await rest("POST", `/orgs/${org.id}/link-invites`, { token, body: { role: "read" } })).json?.id;

    for (const body of [{}, { role: "boss" }, { level: "read", space: 7 }, { role: "read", maxUses: 0 }]) {
      conforms(await rest("POST", `/orgs/${org.id}/link-invites`, { token, body }), LINKS, "POST", 400);
    }
    for (const q of ["limit=1001", "limit=-1", "limit=abc", "page=not-a-cursor"]) {
      conforms(await rest("GET", `/orgs/${org.id}/link-invites?${q}`, { token }), LINKS, "GET", 400);
    }
    conforms(
      await rest("PATCH", `/orgs/${org.id}/link-invites/${link}`, { token, body: { role: 5 } }),
      LINK,
      "PATCH",
      400,
    );

    conforms(await rest("GET", `/orgs/${org.id}/link-invites`), LINKS, "GET", 401);
    conforms(await rest("POST", `/orgs/${org.id}/link-invites`, { body: { role: "read" } }), LINKS, "POST", 401);
    conforms(await rest("DELETE", `/orgs/${org.id}/link-invites/${link}`), LINK, "DELETE", 401);

    const asEditor = { token: editor.token };
    conforms(await rest("GET", `/orgs/${org.id}/link-invites`, asEditor), LINKS, "GET", 403);
    conforms(await rest("GET", `/orgs/${org.id}/link-invites/${link}`, asEditor), LINK, "GET", 403);
    conforms(
      await rest("POST", `/orgs/${org.id}/link-invites`, { ...asEditor, body: { role: "read" } }),
      LINKS,
      "POST",
      403,
    );
    conforms(
      await rest("PATCH", `/orgs/${org.id}/link-invites/${link}`, { ...asEditor, body: { role: "admin" } }),
      LINK,
      "PATCH",
      403,
    );
    conforms(await rest("DELETE", `/orgs/${org.id}/link-invites/${link}`, asEditor), LINK, "DELETE", 403);

    conforms(await rest("GET", `/orgs/${org.id}/link-invites/NoSuchLink123`, { token }), LINK, "GET", 404);
    conforms(
      await rest("PATCH", `/orgs/${org.id}/link-invites/NoSuchLink123`, { token, body: { role: "read" } }),
      LINK,
      "PATCH",
      404,
    );
    expect((await a.db.linkInvite.findUniqueOrThrow({ where: { id: link } })).role).toBe("READ");
  });

  it("POST /orgs/{id}/invites/{inviteId}: 200 {} with an email invite or a link; 400/401/404", async () => {
    const org = await a.seed.org();
    const invitee = await a.seed.user("invitee");
    const invited = await rest("POST", `/orgs/${org.id}/invites`, {
      token: org.owner.token,
      body: { emails: [invitee.email] },
    });
    expect(invited.status).toBe(200);
    const invite = await a.db.invite.findFirstOrThrow({ where: { organizationId: org.id, email: invitee.email } });
    conforms(await rest("POST", `/orgs/${org.id}/invites/${invite.id}`), JOIN_INVITE, "POST", 401);
    const joined = await rest("POST", `/orgs/${org.id}/invites/${invite.id}`, { token: invitee.token });
    conforms(joined, JOIN_INVITE, "POST", 200);
    expect(joined.json).toEqual({});
    const again = await rest("POST", `/orgs/${org.id}/invites/${invite.id}`, { token: invitee.token });
    expect(again.status).toBe(400);
    expect(again.json?.error).toMatchObject({ code: 400, reason: "ALREADY_MEMBER" });

    const link = (
      await rest("POST", `/orgs/${org.id}/link-invites`, { token: org.owner.token, body: { role: "comment" } })
    ).json?.id;
    const linkUser = await a.seed.user("link-user");
    conforms(
      await rest("POST", `/orgs/${org.id}/invites/${link}`, { token: linkUser.token }),
      JOIN_INVITE,
      "POST",
      200,
    );
    expect((await a.db.member.findFirstOrThrow({ where: { organizationId: org.id, userId: linkUser.id } })).role).toBe(
      "COMMENT",
    );

    const other = await a.seed.user("other");
    const unknown = await rest("POST", `/orgs/${org.id}/invites/NoSuchInvite123`, { token: other.token });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ error: { code: 404, reason: "NOT_FOUND" } });
    const badId = await rest("POST", `/orgs/${org.id}/invites/bad%20id`, { token: other.token });
    expect(badId.status).toBe(400);
    const malformed = await rest("POST", `/orgs/${org.id}/invites/%E0%A4%A`, { token: other.token });
    expect(malformed.status).toBe(400);
    expect(malformed.json?.error.code).toBe(400);
  });

  it("POST /orgs/{id}/join: 204 for a verified email in an allowed domain; 400 otherwise; 401 anonymous", async () => {
    const org = await a.seed.org();
    const domain = `rest-${Date.now().toString(36)}.example.net`;
    const set = await a.gql(
      `mutation ($o: ID!, $d: [String!]!) { updateOrganizationDomains(organizationId: $o, domains: $d) { __typename } }`,
      { variables: { o: org.id, d: [domain] }, token: org.owner.token },
    );
    expect(set.data?.updateOrganizationDomains.__typename).toBe("UpdateOrganizationDomainsSuccess");
    const user = await verifiedUserAt(domain);
    const joined = await rest("POST", `/orgs/${org.id}/join`, { token: user.token });
    conforms(joined, JOIN, "POST", 204);
    expect((await a.db.member.findFirstOrThrow({ where: { organizationId: org.id, userId: user.id } })).role).toBe(
      "READ",
    );
    const again = await rest("POST", `/orgs/${org.id}/join`, { token: user.token });
    conforms(again, JOIN, "POST", 400);
    expect(again.json?.error.reason).toBe("ALREADY_MEMBER");
    const outsider = await a.seed.user("outsider");
    const refused = await rest("POST", `/orgs/${org.id}/join`, { token: outsider.token });
    conforms(refused, JOIN, "POST", 400);
    expect(refused.json?.error.reason).toBe("DOMAIN_NOT_ALLOWED");
    conforms(await rest("POST", `/orgs/${org.id}/join`), JOIN, "POST", 401);
  });

  /** Asserts that `res` is the documented error response `name` (components.responses) with `reason`. */
  function isError(res: { status: number; json?: Json; text: string }, name: string, status: number, reason: string) {
    expect(res.status, res.text).toBe(status);
    const schema = doc.components.responses[name]?.content["application/json"].schema;
    const validate = ajv.compile({ ...schema, components: doc.components });
    expect(validate(res.json), `${name}: ${JSON.stringify(validate.errors)} in ${res.text}`).toBe(true);
    expect(res.json?.error.reason).toBe(reason);
  }

  it("documents a required `reason` in every error response of the OpenAPI document", () => {
    const errors: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths as Json)) {
      for (const [method, operation] of Object.entries(operations as Json)) {
        for (const [status, response] of Object.entries((operation as Json).responses as Json)) {
          if (Number(status) < 400) continue;
          errors.push(`${method} ${path} ${status}`);
          const resolved = response.$ref ? doc.components.responses[response.$ref.split("/").at(-1)] : response;
          const error = resolved.content["application/json"].schema.properties.error;
          expect(error.required, `${method} ${path} ${status}`).toContain("reason");
          expect(error.properties.reason.enum, `${method} ${path} ${status}`).toEqual(
            expect.arrayContaining([expect.stringMatching(/^[A-Z_]+$/)]),
          );
        }
      }
    }
    expect(errors).toContain(`post ${INVITES} 413`);
    expect(errors).toContain(`patch ${LINK} 413`);
  });

  it("every error carries a reason: a body that is not JSON, empty or not application/json; 404; 405; 413", async () => {
    const org = await a.seed.org();
    const token = org.owner.token;
    const json = { "content-type": "application/json" };
    for (const [options, message] of [
      [{ rawBody: "{not json", headers: json }, /not valid JSON/],
      [{ rawBody: "", headers: json }, /empty/],
      [{ rawBody: '{"role":"read"}', headers: { "content-type": "text/plain" } }, /application\/json/],
    ] as const) {
      const res = await rest("POST", `/orgs/${org.id}/link-invites`, { token, ...options });
      conforms(res, LINKS, "POST", 400);
      expect(res.json?.error).toMatchObject({ reason: "BAD_REQUEST", message: expect.stringMatching(message) });
    }
    const missing = await rest("GET", "/nope", { token });
    isError(missing, "NotFoundError", 404, "NOT_FOUND");
    expect(missing.json?.error.message).toBe("No route GET /v1/nope");
    const wrongMethod = await rest("PUT", `/orgs/${org.id}/link-invites`, { token });
    isError(wrongMethod, "MethodNotAllowedError", 405, "METHOD_NOT_ALLOWED");
    expect(wrongMethod.headers.get("allow")).toBe("GET, POST");
    isError(await rest("POST", "/openapi.json", { token }), "MethodNotAllowedError", 405, "METHOD_NOT_ALLOWED");
    const large = await rest("POST", `/orgs/${org.id}/invites`, {
      token,
      body: { emails: [uniqueEmail()], pad: "x".repeat(a.testDb.config.limits.bodyBytes) },
    });
    conforms(large, INVITES, "POST", 413);
    expect(large.json?.error.reason).toBe("REQUEST_ENTITY_TOO_LARGE");
  });

  it("a body or query that does not fit names the field and what it takes", async () => {
    const org = await a.seed.org();
    const token = org.owner.token;
    const link = (await rest("POST", `/orgs/${org.id}/link-invites`, { token, body: { role: "read" } })).json?.id;
    const ROLES = "one of admin, create, edit, review, comment, read, or null";
    const refused = async (method: string, path: string, template: string, body: unknown) => {
      const res = await rest(method, path, { token, ...(body === undefined ? {} : { body }) });
      conforms(res, template, method, 400);
      expect(res.json?.error.reason).toBe("VALIDATION");
      return res.json?.error.message as string;
    };
    const linkPath = `/orgs/${org.id}/link-invites/${link}`;
    expect(await refused("PATCH", linkPath, LINK, { role: "king" })).toBe(`Invalid body: role: must be ${ROLES}`);
    expect(await refused("PATCH", linkPath, LINK, { level: 5 })).toBe(`Invalid body: level: must be ${ROLES}`);
    const empty = await refused("PATCH", linkPath, LINK, {});
    for (const field of ["role", "level", ROLES, "expiresAt", "maxUses"]) expect(empty).toContain(field);
    expect(await refused("PATCH", linkPath, LINK, [])).toBe("Invalid body: must be a JSON object");
    expect(await refused("PATCH", linkPath, LINK, { role: "read", maxUses: 1.5, expiresAt: "tomorrow" })).toBe(
      "Invalid body: expiresAt: must be an ISO 8601 date-time with a time zone, e.g. 2030-01-31T12:00:00Z; maxUses: must be an integer",
    );
    const links = `/orgs/${org.id}/link-invites`;
    for (const q of ["limit=abc", "limit=1001", "limit=-1", "limit=2.5"]) {
      expect(await refused("GET", `${links}?${q}`, LINKS, undefined), q).toBe(
        "Invalid query: limit: must be an integer from 0 to 1000",
      );
    }
    expect(await refused("POST", links, LINKS, { level: "read", space: 7 })).toBe(
      "Invalid body: space: must be a string: the space's id",
    );
    const noKind = await refused("POST", links, LINKS, {});
    for (const field of ["role", "level", "space", "collection"]) expect(noKind).toContain(field);
    expect(
      await refused("POST", `/orgs/${org.id}/invites`, INVITES, {
        emails: [uniqueEmail(), { email: uniqueEmail(), role: "king" }, { email: uniqueEmail() }, 5],
      }),
    ).toBe(
      `Invalid body: emails[1].role: must be ${ROLES}; emails[2].role: is required (${ROLES}); emails[3]: must be an email address, or an object {email, role}`,
    );
    expect(await refused("POST", `/orgs/${org.id}/invites`, INVITES, {})).toBe(
      "Invalid body: emails: is required (an array of email addresses or {email, role} objects)",
    );
    expect(await a.db.invite.count({ where: { organizationId: org.id } })).toBe(0);
    expect((await a.db.linkInvite.findUniqueOrThrow({ where: { id: link } })).role).toBe("READ");
  });

  it("GET /orgs/{id}/link-invites?limit=0: the count alone, and no next page without a cursor", async () => {
    const org = await a.seed.org();
    const token = org.owner.token;
    await rest("POST", `/orgs/${org.id}/link-invites`, { token, body: { role: "read" } });
    const counted = await rest("GET", `/orgs/${org.id}/link-invites?limit=0`, { token });
    conforms(counted, LINKS, "GET", 200);
    expect(counted.json).toEqual({ items: [], count: 1 });
  });

  it("unknown routes are 404, other methods 405, both with the error shape; security headers apply", async () => {
    const org = await a.seed.org();
    const missing = await rest("GET", "/nothing-here", { token: org.owner.token });
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ error: { code: 404 } });
    const wrong = await rest("PUT", `/orgs/${org.id}/link-invites`, { token: org.owner.token, body: {} });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("GET, POST");
    const listed = await rest("GET", `/orgs/${org.id}/link-invites`, { token: org.owner.token });
    expect(listed.headers.get("x-content-type-options")).toBe("nosniff");
    expect(listed.headers.get("content-type")).toMatch(/^application\/json/);
  });
});

describe("REST twin and the request rate limit", () => {
  const app = useTestApp("pglite", { RATE_LIMIT_PER_MINUTE: "3" });

  it("counts a /v1 request that runs GraphQL once (not again as its GraphQL request); 429 in the error shape", async () => {
    const a = app.current;
    const org = await a.seed.org();
    const get = () =>
      a.yoga.fetch(`http://localhost/v1/orgs/${org.id}/link-invites`, {
        headers: { authorization: `Bearer ${org.owner.token}` },
      });
    for (let i = 0; i < 3; i++) expect((await get()).status).toBe(200);
    const limited = await get();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await limited.json()).toMatchObject({ error: { code: 429, reason: "RATE_LIMITED" } });
  });

  it("counts the requests the twin answers without GraphQL too (404, the OpenAPI document, a bad body, 405)", async () => {
    const a = app.current;
    const user = await a.seed.user();
    const auth = { authorization: `Bearer ${user.token}` };
    const v1 = (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
      a.yoga.fetch(`http://localhost/v1${path}`, { ...init, headers: { ...auth, ...init.headers } });
    expect((await v1("/no-such-route")).status).toBe(404);
    expect((await v1("/openapi.json")).status).toBe(200);
    const notJson = { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" };
    expect((await v1("/orgs/some-org/link-invites", notJson)).status).toBe(400);

    const limited = await v1("/orgs/some-org/link-invites", { method: "PUT" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await limited.json()).toEqual({
      error: { code: 429, reason: "RATE_LIMITED", message: expect.stringMatching(/at most 3 a minute/) },
    });
    expect((await v1("/openapi.json")).status).toBe(429);
    expect((await v1("/no-such-route")).status).toBe(429);

    // One budget for the caller, whichever door: /graphql is refused too, with the same headers.
    const graphql = await a.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(graphql.status).toBe(429);
    for (const name of ["retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]) {
      expect(limited.headers.get(name), name).toMatch(/^[0-9]+$/);
    }
    expect(limited.headers.get("ratelimit-limit")).toBe(graphql.headers.get("ratelimit-limit"));
    expect(limited.headers.get("ratelimit-remaining")).toBe("0");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get("x-content-type-options")).toBe("nosniff");
  });
});

describe("REST twin: cross-origin requests", () => {
  const app = useTestApp("pglite", { CORS_ORIGINS: "https://app.example.com" });

  it("an allowed origin may preflight PATCH and DELETE; another origin is not echoed back", async () => {
    const a = app.current;
    const org = await a.seed.org();
    const path = `http://localhost/v1/orgs/${org.id}/link-invites/abc`;
    const preflight = await a.yoga.fetch(path, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("PATCH");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("DELETE");
    const evil = await a.yoga.fetch(path, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "DELETE" },
    });
    // Yoga answers with the configured origin, never the caller's: the browser refuses the request.
    expect(evil.headers.get("access-control-allow-origin")).not.toBe("https://evil.example.com");
  });

  it("a cross-site form post (no credential, not JSON) is refused before anything runs, nothing written", async () => {
    const a = app.current;
    const org = await a.seed.org();
    for (const contentType of ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]) {
      const res = await a.yoga.fetch(`http://localhost/v1/orgs/${org.id}/link-invites`, {
        method: "POST",
        headers: { "content-type": contentType, origin: "https://evil.example.com" },
        body: "role=admin",
      });
      expect(res.status, contentType).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/application\/json/);
    }
    const withToken = await a.yoga.fetch(`http://localhost/v1/orgs/${org.id}/link-invites`, {
      method: "POST",
      headers: { "content-type": "text/plain", authorization: `Bearer ${org.owner.token}` },
      body: JSON.stringify({ role: "read" }),
    });
    expect(withToken.status).toBe(400);
    expect(await a.db.linkInvite.count({ where: { organizationId: org.id } })).toBe(0);
  });
});

describe("REST twin bodies over a real socket", () => {
  const app = useTestApp("pglite", { MAX_BODY_BYTES: "20000" });

  it("counts a chunked body as it arrives: over MAX_BODY_BYTES is 413, declared or not", async () => {
    const server = createServer(app.current.yoga);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const post = (body: string, contentLength?: number) =>
      postInChunks(port, "/v1/orgs/some-org/invites", body, contentLength);
    try {
      const large = JSON.stringify({ emails: ["a@example.com"], pad: "x".repeat(25_000) });
      const small = JSON.stringify({ emails: ["a@example.com"] });
      for (const answer of [await post(large), await post(large, Buffer.byteLength(large))]) {
        expect(answer.status).toBe(413);
        expect(JSON.parse(answer.body)).toEqual({
          error: { code: 413, message: "The body is larger than 20000 bytes", reason: "REQUEST_ENTITY_TOO_LARGE" },
        });
      }
      // Read whole and passed on: anonymous, so the GraphQL request it makes answers 401.
      expect((await post(small)).status).toBe(401);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
