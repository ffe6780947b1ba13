import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/domain/errors.js";
import { type InviteStatus, inviteStatus, inviteStatusWhere } from "../../src/domain/invites.js";
import { isLinkRedundant, linkInviteStatus } from "../../src/domain/link-invites.js";
import { hasAtLeast, type MemberRole, ROLES_HIGHEST_FIRST, roleRank } from "../../src/domain/roles.js";
import { createUserWithToken } from "../../src/domain/users.js";
import { uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const HIGHEST_FIRST: MemberRole[] = ["ADMIN", "CREATE", "EDIT", "REVIEW", "COMMENT", "READ", "GUEST"];

describe("roles", () => {
  it("ranks ADMIN > CREATE > EDIT > REVIEW > COMMENT > READ > GUEST", () => {
    expect([...ROLES_HIGHEST_FIRST]).toEqual(HIGHEST_FIRST);
    const ranks = HIGHEST_FIRST.map(roleRank);
    for (let i = 1; i < ranks.length; i++) expect(ranks[i - 1]).toBeGreaterThan(ranks[i] as number);
  });

  it("hasAtLeast(role, required) holds exactly when role is required or higher", () => {
    HIGHEST_FIRST.forEach((role, i) => {
      HIGHEST_FIRST.forEach((required, j) => {
        expect(hasAtLeast(role, required), `${role} >= ${required}`).toBe(i <= j);
      });
    });
  });

  it("no role (not a member) has nothing, not even GUEST", () => {
    for (const required of HIGHEST_FIRST) {
      expect(hasAtLeast(null, required)).toBe(false);
      expect(hasAtLeast(undefined, required)).toBe(false);
    }
  });
});

describe("isLinkRedundant", () => {
  const orgLink = (role: MemberRole) => ({ kind: "ORGANIZATION" as const, role, spaceId: null, collectionId: null });
  const spaceLink = (role: MemberRole, spaceId = "space-1") => ({
    kind: "SPACE" as const,
    role,
    spaceId,
    collectionId: null,
  });
  const collectionLink = (role: MemberRole, collectionId = "coll-1") => ({
    kind: "COLLECTION" as const,
    role,
    spaceId: null,
    collectionId,
  });

  it("is false for a non-member, whatever the link", () => {
    expect(isLinkRedundant(orgLink("READ"), null)).toBe(false);
    expect(isLinkRedundant(spaceLink("READ"), null, [{ kind: "SPACE", targetId: "space-1", role: "ADMIN" }])).toBe(
      false,
    );
  });

  it("organization link: redundant when the member's role is at least the link's", () => {
    expect(isLinkRedundant(orgLink("EDIT"), "READ")).toBe(false);
    expect(isLinkRedundant(orgLink("EDIT"), "GUEST")).toBe(false);
    expect(isLinkRedundant(orgLink("EDIT"), "EDIT")).toBe(true);
    expect(isLinkRedundant(orgLink("EDIT"), "CREATE")).toBe(true);
    expect(isLinkRedundant(orgLink("EDIT"), "ADMIN")).toBe(true);
    expect(isLinkRedundant(orgLink("ADMIN"), "ADMIN")).toBe(true);
    expect(isLinkRedundant(orgLink("ADMIN"), "CREATE")).toBe(false);
  });

  it("a guest's grants do not make an organization link redundant", () => {
    expect(isLinkRedundant(orgLink("READ"), "GUEST", [{ kind: "SPACE", targetId: "space-1", role: "ADMIN" }])).toBe(
      false,
    );
  });

  it("space link: a non-guest member with a role at least the level already has it", () => {
    expect(isLinkRedundant(spaceLink("EDIT"), "ADMIN")).toBe(true);
    expect(isLinkRedundant(spaceLink("EDIT"), "EDIT")).toBe(true);
    expect(isLinkRedundant(spaceLink("EDIT"), "READ")).toBe(false);
    expect(isLinkRedundant(collectionLink("COMMENT"), "REVIEW")).toBe(true);
    expect(isLinkRedundant(collectionLink("COMMENT"), "READ")).toBe(false);
  });

  it("space link: a guest needs a grant on that very space at least the level", () => {
    const link = spaceLink("EDIT", "space-1");
    expect(isLinkRedundant(link, "GUEST")).toBe(false);
    expect(isLinkRedundant(link, "GUEST", [])).toBe(false);
    expect(isLinkRedundant(link, "GUEST", [{ kind: "SPACE", targetId: "space-1", role: "EDIT" }])).toBe(true);
    expect(isLinkRedundant(link, "GUEST", [{ kind: "SPACE", targetId: "space-1", role: "ADMIN" }])).toBe(true);
    // Too low, another space, or a collection with the same id: not enough.
    expect(isLinkRedundant(link, "GUEST", [{ kind: "SPACE", targetId: "space-1", role: "READ" }])).toBe(false);
    expect(isLinkRedundant(link, "GUEST", [{ kind: "SPACE", targetId: "space-2", role: "ADMIN" }])).toBe(false);
    expect(isLinkRedundant(link, "GUEST", [{ kind: "COLLECTION", targetId: "space-1", role: "ADMIN" }])).toBe(false);
    expect(
      isLinkRedundant(link, "GUEST", [
        { kind: "SPACE", targetId: "space-2", role: "ADMIN" },
        { kind: "SPACE", targetId: "space-1", role: "CREATE" },
      ]),
    ).toBe(true);
  });

  it("collection link: a guest needs a grant on that collection", () => {
    const link = collectionLink("READ", "coll-1");
    expect(isLinkRedundant(link, "GUEST", [{ kind: "COLLECTION", targetId: "coll-1", role: "READ" }])).toBe(true);
    expect(isLinkRedundant(link, "GUEST", [{ kind: "SPACE", targetId: "coll-1", role: "ADMIN" }])).toBe(false);
    expect(isLinkRedundant(link, "GUEST", [{ kind: "COLLECTION", targetId: "coll-2", role: "ADMIN" }])).toBe(false);
  });
});

describe("statuses at the expiry boundary", () => {
  const now = new Date("2030-06-15T12:00:00.000Z");
  const at = (deltaMs: number) => new Date(now.getTime() + deltaMs);

  it("linkInviteStatus: expiresAt == now is EXPIRED, one millisecond later is ACTIVE", () => {
    const link = { revokedAt: null, uses: 0, maxUses: null };
    expect(linkInviteStatus({ ...link, expiresAt: at(0) }, now)).toBe("EXPIRED");
    expect(linkInviteStatus({ ...link, expiresAt: at(-1) }, now)).toBe("EXPIRED");
    expect(linkInviteStatus({ ...link, expiresAt: at(1) }, now)).toBe("ACTIVE");
    expect(linkInviteStatus({ ...link, expiresAt: null }, now)).toBe("ACTIVE");
  });

  it("linkInviteStatus: uses == maxUses is USED_UP, one below is ACTIVE; revoked wins", () => {
    const link = { revokedAt: null, expiresAt: null };
    expect(linkInviteStatus({ ...link, uses: 3, maxUses: 3 }, now)).toBe("USED_UP");
    expect(linkInviteStatus({ ...link, uses: 2, maxUses: 3 }, now)).toBe("ACTIVE");
    expect(linkInviteStatus({ ...link, uses: 1_000_000, maxUses: null }, now)).toBe("ACTIVE");
    expect(linkInviteStatus({ revokedAt: at(-5), expiresAt: at(-1), uses: 3, maxUses: 3 }, now)).toBe("REVOKED");
  });

  it("inviteStatus: a PENDING invite with expiresAt == now is EXPIRED, one millisecond later PENDING", () => {
    expect(inviteStatus({ status: "PENDING", expiresAt: at(0) }, now)).toBe("EXPIRED");
    expect(inviteStatus({ status: "PENDING", expiresAt: at(-1) }, now)).toBe("EXPIRED");
    expect(inviteStatus({ status: "PENDING", expiresAt: at(1) }, now)).toBe("PENDING");
  });

  it("inviteStatus: accepted and revoked invites keep their status past expiry", () => {
    expect(inviteStatus({ status: "ACCEPTED", expiresAt: at(-1) }, now)).toBe("ACCEPTED");
    expect(inviteStatus({ status: "REVOKED", expiresAt: at(0) }, now)).toBe("REVOKED");
    expect(inviteStatus({ status: "ACCEPTED", expiresAt: at(1) }, now)).toBe("ACCEPTED");
  });
});

describe.each(DB_KINDS)("inviteStatusWhere agrees with inviteStatus at the boundary (%s)", (kind) => {
  const app = useTestApp(kind);

  it("filters each stored invite into exactly the status it reads as", async () => {
    const { db } = app.current;
    const org = await app.current.seed.org();
    // An instant an hour ahead: the boundary is "now" as the filter is given, not the wall clock.
    const now = new Date(Date.now() + 3_600_000);
    const rows = [
      { delta: -1, status: "PENDING" as const },
      { delta: 0, status: "PENDING" as const },
      { delta: 1, status: "PENDING" as const },
      { delta: -1, status: "ACCEPTED" as const },
      { delta: 1, status: "REVOKED" as const },
    ];
    const ids: string[] = [];
    for (const [i, row] of rows.entries()) {
      const id = `boundary-${kind}-${i}-${Date.now().toString(36)}`;
      ids.push(id);
      await db.invite.create({
        data: {
          id,
          organizationId: org.id,
          email: uniqueEmail(`boundary${i}`),
          role: "READ",
          status: row.status,
          expiresAt: new Date(now.getTime() + row.delta),
        },
      });
    }
    const stored = await db.invite.findMany({ where: { id: { in: ids } } });
    const expected = new Map(stored.map((i) => [i.id, inviteStatus(i, now)]));
    expect([...expected.values()].sort()).toEqual(["ACCEPTED", "EXPIRED", "EXPIRED", "PENDING", "REVOKED"]);

    for (const status of ["PENDING", "ACCEPTED", "REVOKED", "EXPIRED"] as InviteStatus[]) {
      const found = await db.invite.findMany({
        where: { AND: [{ id: { in: ids } }, inviteStatusWhere(status, now)] },
        select: { id: true },
      });
      const want = ids.filter((id) => expected.get(id) === status).sort();
      expect(found.map((f) => f.id).sort(), status).toEqual(want);
    }
  });
});

describe.each(DB_KINDS)("createUserWithToken's name (%s)", (kind) => {
  const app = useTestApp(kind);

  it("refuses a display name PostgreSQL cannot store, or a long one, with a ValidationError", async () => {
    for (const name of ["Ada\u0000", "Ada \ud800", "é\udfff", "x".repeat(201)]) {
      await expect(createUserWithToken(app.current.db, { email: uniqueEmail("named"), name })).rejects.toBeInstanceOf(
        ValidationError,
      );
    }
    const { user } = await createUserWithToken(app.current.db, { email: uniqueEmail("named"), name: "  Ada  " });
    expect(user.displayName).toBe("Ada");
  });
});
