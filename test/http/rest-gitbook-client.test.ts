/**
 * GitBook's own API client (`@gitbook/api`) pointed at this service's /v1: every invite operation
 * of the excerpt, called as a GitBook integration would, answered through yoga.fetch (the client's
 * `serviceBinding`), on both databases.
 */
import { GitBookAPI, GitBookAPIError } from "@gitbook/api";
import { beforeAll, describe, expect, it } from "vitest";
import { createUserWithToken } from "../../src/domain/users.js";
import { type TestApp, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

type Reply = Promise<{ status: number; data: Record<string, any> }>;
/**
 * The operations used here. @gitbook/api 0.202's declarations import './client' without an extension,
 * which TypeScript's NodeNext resolution cannot follow, so its `orgs` namespace types as missing.
 */
interface OrgsClient {
  orgs: {
    inviteUsersToOrganization(organizationId: string, body: unknown): Reply;
    joinOrganizationWithInvite(organizationId: string, inviteId: string): Reply;
    listOrganizationInviteLinks(organizationId: string, query: { page?: string; limit?: number }): Reply;
    createOrganizationInvite(organizationId: string, body: unknown): Reply;
    getOrganizationInviteLink(organizationId: string, inviteId: string): Reply;
    updateOrganizationInviteById(organizationId: string, inviteId: string, body: unknown): Reply;
    deleteOrganizationInviteById(organizationId: string, inviteId: string): Reply;
    joinOrganization(organizationId: string): Reply;
    listMembersInOrganizationById(
      organizationId: string,
      query: { page?: string; limit?: number; role?: string; search?: string; sort?: string; order?: string },
    ): Reply;
    getMemberInOrganizationById(organizationId: string, userId: string): Reply;
    updateMemberInOrganizationById(organizationId: string, userId: string, body: { role?: string | null }): Reply;
    removeMemberFromOrganizationById(organizationId: string, userId: string): Reply;
  };
}

describe.each(DB_KINDS)("@gitbook/api client against /v1 (%s)", (kind) => {
  const app = useTestApp(kind);
  let a: TestApp;
  beforeAll(() => {
    a = app.current;
  });

  const client = (authToken?: string) =>
    new GitBookAPI({
      endpoint: "http://localhost",
      authToken,
      serviceBinding: { fetch: async (input, init) => a.yoga.fetch(String(input), init ?? {}) },
    }) as unknown as OrgsClient;

  async function rejection(promise: Promise<unknown>): Promise<GitBookAPIError> {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GitBookAPIError);
    return error as GitBookAPIError;
  }

  it("an admin invites and manages links; others join with an invite, a link or their email domain", async () => {
    const org = await a.seed.org();
    const admin = client(org.owner.token);
    const invitee = await a.seed.user("invitee");

    const invited = await admin.orgs.inviteUsersToOrganization(org.id, {
      emails: [invitee.email, { email: uniqueEmail("editor"), role: "edit" }],
      role: "read",
    });
    expect(invited.status).toBe(200);
    expect(invited.data.invited).toBe(2);
    expect(invited.data.users).toContain(invitee.id);
    const invite = await a.db.invite.findFirstOrThrow({ where: { organizationId: org.id, email: invitee.email } });
    const joined = await client(invitee.token).orgs.joinOrganizationWithInvite(org.id, invite.id);
    expect(joined.status).toBe(200);

    const created = await admin.orgs.createOrganizationInvite(org.id, { role: "comment" });
    expect(created.status).toBe(201);
    const link = created.data;
    expect(link).toMatchObject({ object: "invite", role: "comment" });
    const space = await admin.orgs.createOrganizationInvite(org.id, { level: "read", space: "space-9" });
    expect(space.data).toMatchObject({ level: "read", space: { id: "space-9" } });

    const page = await admin.orgs.listOrganizationInviteLinks(org.id, { limit: 1 });
    expect(page.data.count).toBe(2);
    expect(page.data.items.map((i: { id: string }) => i.id)).toEqual([space.data.id]);
    const rest = await admin.orgs.listOrganizationInviteLinks(org.id, { limit: 1, page: page.data.next?.page });
    expect(rest.data.items.map((i: { id: string }) => i.id)).toEqual([link.id]);
    expect(rest.data.next).toBeUndefined();

    expect((await admin.orgs.getOrganizationInviteLink(org.id, link.id)).data).toEqual(link);
    const updated = await admin.orgs.updateOrganizationInviteById(org.id, link.id, { role: "review" });
    expect(updated.data).toMatchObject({ id: link.id, role: "review" });

    const linkUser = await a.seed.user("link-user");
    expect((await client(linkUser.token).orgs.joinOrganizationWithInvite(org.id, link.id)).status).toBe(200);
    const member = await a.db.member.findFirstOrThrow({ where: { organizationId: org.id, userId: linkUser.id } });
    expect(member.role).toBe("REVIEW");

    expect((await admin.orgs.deleteOrganizationInviteById(org.id, link.id)).status).toBe(205);
    expect((await admin.orgs.deleteOrganizationInviteById(org.id, "NeverExisted123")).status).toBe(204);

    const domain = `gb-${Date.now().toString(36)}.example.net`;
    await a.db.organization.update({ where: { id: org.id }, data: { allowedDomains: [domain] } });
    const { token } = await createUserWithToken(a.db, { email: `new.hire@${domain}` });
    expect((await client(token).orgs.joinOrganization(org.id)).status).toBe(204);
  });

  it("an admin lists, reads, changes and removes members; a member leaves; the last admin stays (LAST_ADMIN, 400)", async () => {
    const org = await a.seed.org();
    const admin = client(org.owner.token);
    const reader = await a.seed.user("gb-reader");
    const editor = await a.seed.user("gb-editor");
    await a.seed.member(org.id, reader, "READ");
    await a.seed.member(org.id, editor, "EDIT");
    await a.db.user.update({ where: { id: editor.id }, data: { displayName: "Edith Editor" } });

    const page = await admin.orgs.listMembersInOrganizationById(org.id, { limit: 2, sort: "joinedAt", order: "asc" });
    expect(page.data.count).toBe(3);
    expect(page.data.items.map((m: { id: string }) => m.id)).toEqual([org.owner.id, reader.id]);
    const next = await admin.orgs.listMembersInOrganizationById(org.id, {
      limit: 2,
      order: "asc",
      page: page.data.next?.page,
    });
    expect(next.data.items.map((m: { id: string }) => m.id)).toEqual([editor.id]);
    const found = await admin.orgs.listMembersInOrganizationById(org.id, { search: "edith", sort: "name" });
    expect(found.data.items).toEqual([
      expect.objectContaining({
        object: "member",
        id: editor.id,
        role: "edit",
        user: expect.objectContaining({ displayName: "Edith Editor" }),
      }),
    ]);
    const readers = await admin.orgs.listMembersInOrganizationById(org.id, { role: "read" });
    expect(readers.data.items.map((m: { id: string }) => m.id)).toEqual([reader.id]);

    const member = await client(reader.token).orgs.getMemberInOrganizationById(org.id, editor.id);
    expect(member.data).toMatchObject({ id: editor.id, role: "edit", disabled: false, sso: false });
    const updated = await admin.orgs.updateMemberInOrganizationById(org.id, reader.id, { role: "admin" });
    expect(updated.data).toMatchObject({ id: reader.id, role: "admin" });
    const guest = await admin.orgs.updateMemberInOrganizationById(org.id, editor.id, { role: null });
    expect(guest.data.role).toBeNull();

    expect((await admin.orgs.removeMemberFromOrganizationById(org.id, editor.id)).status).toBe(205);
    expect((await admin.orgs.removeMemberFromOrganizationById(org.id, editor.id)).status).toBe(204);
    // The reader (now an admin) leaves: DELETE of themself.
    expect((await client(reader.token).orgs.removeMemberFromOrganizationById(org.id, reader.id)).status).toBe(205);
    const last = await rejection(admin.orgs.removeMemberFromOrganizationById(org.id, org.owner.id));
    expect(last.code).toBe(400);
    expect(last.errorMessage).toMatch(/admin/);
    const demote = await rejection(admin.orgs.updateMemberInOrganizationById(org.id, org.owner.id, { role: "read" }));
    expect(demote.code).toBe(400);
    const gone = await rejection(admin.orgs.getMemberInOrganizationById(org.id, editor.id));
    expect(gone.code).toBe(404);
    const removedReads = await rejection(client(editor.token).orgs.listMembersInOrganizationById(org.id, {}));
    expect(removedReads.code).toBe(403);
  });

  it("errors reach the client as GitBookAPIError with GitBook's status and message", async () => {
    const org = await a.seed.org();
    const reader = await a.seed.user("reader");
    await a.seed.member(org.id, reader, "READ");

    const anonymous = await rejection(client().orgs.listOrganizationInviteLinks(org.id, {}));
    expect(anonymous.code).toBe(401);
    const forbidden = await rejection(client(reader.token).orgs.createOrganizationInvite(org.id, { role: "read" }));
    expect(forbidden.code).toBe(403);
    expect(forbidden.errorMessage).toMatch(/admins/);
    const missing = await rejection(client(org.owner.token).orgs.getOrganizationInviteLink(org.id, "NoSuchLink123"));
    expect(missing.code).toBe(404);
    const invalid = await rejection(
      client(org.owner.token).orgs.inviteUsersToOrganization(org.id, { emails: ["not an email"] }),
    );
    expect(invalid.code).toBe(400);
    const notAllowed = await rejection(client(reader.token).orgs.joinOrganization(org.id));
    expect(notAllowed.code).toBe(400);
  });
});
