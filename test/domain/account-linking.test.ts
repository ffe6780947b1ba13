import { readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { inviteUsers } from "../../src/domain/invites.js";
import { joinWithInvite } from "../../src/domain/membership.js";
import { createUserWithToken, userForJwtIdentity, type Viewer } from "../../src/domain/users.js";
import { type TestApp, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

/**
 * An email claim that is not verified never holds the address (CONTRACT.md, Authentication): not
 * through invites to it, not through the CLI, not against a later verified sign-in.
 */

const ISSUER = "https://idp.example.com/";
const AUDIENCE = "invites-gateway";
const key = await generateKeyPair("ES256", { extractable: true });
const publicKey = (await exportSPKI(key.publicKey)).replace(/\n/g, "\\n");

function jwt(claims: Record<string, unknown>) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(key.privateKey);
}

const INVITE = `mutation($o: ID!, $e: String!) { inviteUsersToOrganization(organizationId: $o,
  input: { invitees: [{ email: $e, role: ADMIN }] }) {
  __typename ... on InviteUsersToOrganizationSuccess { users { id } invites { id } } } }`;
const JOIN = `mutation($o: ID!, $i: ID!) { joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
  __typename ... on Error { code } ... on JoinOrganizationWithInviteSuccess { member { role } } } }`;
const VIEWER = "{ viewer { id email pendingInvites { id role } } }";

describe.each(DB_KINDS)("an unverified email claim (%s)", (kind) => {
  const app = useTestApp(kind, { JWT_PUBLIC_KEY: publicKey, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });

  it("never holds the address: invites, the CLI and a later verified sign-in all reach the real owner", async () => {
    const victim = uniqueEmail("victim");
    const eve = await jwt({ sub: `eve-${victim}`, email: victim, email_verified: false });
    const eveViewer = await app.current.gql(VIEWER, { token: eve });
    expect(eveViewer.errors).toBeUndefined();
    // What an unverified claimant sees of itself: no address.
    expect(eveViewer.data?.viewer).toMatchObject({ email: null, pendingInvites: [] });
    const eveId = eveViewer.data?.viewer.id as string;

    const org = await app.current.seed.org();
    const invited = await app.current.gql(INVITE, { token: org.owner.token, variables: { o: org.id, e: victim } });
    const success = invited.data?.inviteUsersToOrganization;
    expect(success.__typename).toBe("InviteUsersToOrganizationSuccess");
    expect(success.users[0].id).not.toBe(eveId);
    const inviteId = success.invites[0].id as string;
    expect((await app.current.gql(VIEWER, { token: eve })).data?.viewer.pendingInvites).toEqual([]);

    // The operator onboards the real person: the CLI's user is not Eve's.
    const { user: real } = await createUserWithToken(app.current.db, { email: victim });
    expect(real.id).not.toBe(eveId);
    expect(real.id).toBe(success.users[0].id);

    const eveJoin = await app.current.gql(JOIN, { token: eve, variables: { o: org.id, i: inviteId } });
    expect(eveJoin.data?.joinOrganizationWithInvite.code).toBe("INVITE_EMAIL_MISMATCH");
    expect(await app.current.db.member.count({ where: { organizationId: org.id, userId: eveId } })).toBe(0);

    // The owner signing in with a verified token lands on the CLI's user, with the invite.
    const owner = await jwt({ sub: `owner-${victim}`, email: victim, email_verified: true });
    const ownerViewer = await app.current.gql(VIEWER, { token: owner });
    expect(ownerViewer.data?.viewer).toEqual({
      id: real.id,
      email: victim,
      pendingInvites: [{ id: inviteId, role: "ADMIN" }],
    });
    const join = await app.current.gql(JOIN, { token: owner, variables: { o: org.id, i: inviteId } });
    expect(join.data?.joinOrganizationWithInvite).toEqual({
      __typename: "JoinOrganizationWithInviteSuccess",
      member: { role: "ADMIN" },
    });
  });

  it("an email claim is lower-cased in ASCII only: the Kelvin sign (U+212A) is no 'k'", async () => {
    const victim = uniqueEmail("karl");
    const spoof = `\u212A${victim.slice(1)}`; // "Karl-…" with a Kelvin sign for the K
    const org = await app.current.seed.org();
    const invited = await app.current.gql(INVITE, { token: org.owner.token, variables: { o: org.id, e: victim } });
    const inviteId = invited.data?.inviteUsersToOrganization.invites[0].id;
    const token = await jwt({ sub: `kelvin-${victim}`, email: spoof, email_verified: true });
    const viewer = await app.current.gql(VIEWER, { token });
    expect(viewer.data?.viewer.email).toBeNull();
    const join = await app.current.gql(JOIN, { token, variables: { o: org.id, i: inviteId } });
    expect(join.data?.joinOrganizationWithInvite.code).toBe("INVITE_EMAIL_MISMATCH");
  });

  it("a verified sign-in after the claim gets the address and the invites sent to it", async () => {
    const victim = uniqueEmail("victim");
    await app.current.gql(VIEWER, { token: await jwt({ sub: `eve-${victim}`, email: victim }) });
    const org = await app.current.seed.org();
    const invited = await app.current.gql(INVITE, { token: org.owner.token, variables: { o: org.id, e: victim } });
    const inviteId = invited.data?.inviteUsersToOrganization.invites[0].id;
    const owner = await jwt({ sub: `owner-${victim}`, email: victim, email_verified: true });
    const res = await app.current.gql(VIEWER, { token: owner });
    expect(res.data?.viewer).toMatchObject({ email: victim, pendingInvites: [{ id: inviteId }] });
  });

  it("a user who proves another address releases the old one, and its pending invites go with the address", async () => {
    const first = uniqueEmail("first");
    const second = uniqueEmail("second");
    const sub = `mover-${first}`;
    await app.current.gql(VIEWER, { token: await jwt({ sub, email: first, email_verified: true }) });
    const org = await app.current.seed.org();
    await app.current.gql(INVITE, { token: org.owner.token, variables: { o: org.id, e: first } });
    const moved = await app.current.gql(VIEWER, { token: await jwt({ sub, email: second, email_verified: true }) });
    expect(moved.data?.viewer).toMatchObject({ email: second, pendingInvites: [] });
    const next = await createUserWithToken(app.current.db, { email: first });
    expect(next.user.id).not.toBe(moved.data?.viewer.id);
    const nextViewer = await app.current.gql(VIEWER, { token: next.token });
    expect(nextViewer.data?.viewer.pendingInvites).toHaveLength(1);
  });

  it("the CLI never vouches for a user who only claimed the address (a row written before the rule)", async () => {
    const db = app.current.db;
    const victim = uniqueEmail("fenced");
    const squatter = await db.user.create({ data: { jwtSubject: `fenced-${victim}`, email: victim } });
    const org = await app.current.seed.org();
    await db.invite.create({
      data: {
        id: `fenced-${Date.now()}`,
        organizationId: org.id,
        email: victim,
        role: "ADMIN",
        userId: squatter.id,
        expiresAt: new Date(Date.now() + 86_400_000),
      },
    });
    const { user } = await createUserWithToken(db, { email: victim });
    expect(user.id).not.toBe(squatter.id);
    expect(await db.user.findUniqueOrThrow({ where: { id: squatter.id } })).toMatchObject({ email: null });
    expect(await db.invite.findMany({ where: { email: victim }, select: { userId: true } })).toEqual([
      { userId: user.id },
    ]);
  });

  it("the migration takes addresses back from users who only claimed them", async () => {
    const db = app.current.db;
    const victim = uniqueEmail("legacy");
    // A row as the old code wrote it: a subject holding an address it never proved, with an invite.
    const squatter = await db.user.create({ data: { jwtSubject: `legacy-${victim}`, email: victim } });
    const org = await app.current.seed.org();
    await db.invite.create({
      data: {
        id: `legacy-${Date.now()}`,
        organizationId: org.id,
        email: victim,
        role: "ADMIN",
        userId: squatter.id,
        expiresAt: new Date(Date.now() + 86_400_000),
      },
    });
    const sql = readFileSync(
      path.join(import.meta.dirname, "../../prisma/migrations/20261202203000_unverified_email_claims/migration.sql"),
      "utf8",
    );
    for (const statement of sql
      .replace(/--.*$/gm, "")
      .split(";")
      .map((s) => s.trim())
      .filter(Boolean)) {
      await db.$executeRawUnsafe(statement);
    }
    expect(await db.user.findUniqueOrThrow({ where: { id: squatter.id } })).toMatchObject({ email: null });
    const holder = await db.user.findUniqueOrThrow({ where: { email: victim } });
    expect(holder).toMatchObject({ emailVerified: false, jwtSubject: null });
    expect(await db.invite.findMany({ where: { email: victim }, select: { userId: true } })).toEqual([
      { userId: holder.id },
    ]);
  });
});

type Command =
  | { kind: "cli" }
  | { kind: "signIn"; subject: number; verified: boolean; address: "target" | "other" }
  | { kind: "invite" }
  | { kind: "join"; subject: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.constant({ kind: "cli" as const }),
  fc.record({
    kind: fc.constant("signIn" as const),
    subject: fc.integer({ min: 0, max: 2 }),
    verified: fc.boolean(),
    address: fc.constantFrom("target" as const, "other" as const),
  }),
  fc.constant({ kind: "invite" as const }),
  fc.record({ kind: fc.constant("join" as const), subject: fc.integer({ min: 0, max: 2 }) }),
);

/**
 * Any sequence of CLI creations, verified and unverified sign-ins, invites and joins for one address
 * never gives one user's invites or memberships to another: only a subject that proved the address
 * (or the operator's user) ever holds it, sees its invites or joins with them.
 */
describe.each(DB_KINDS)("property: account linking for one address (%s)", (kind) => {
  const app = useTestApp(kind);
  const settings = { ttlMs: 86_400_000, dailyLimit: 1_000_000 };

  async function run(app: TestApp, commands: Command[]) {
    const db = app.db;
    const target = uniqueEmail("target");
    const subjects = [0, 1, 2].map((i) => `s${i}-${target}`);
    const others = [0, 1, 2].map((i) => `other${i}-${target}`);
    const org = await app.seed.org();
    const actor = { userId: org.owner.id, tokenId: null, subject: null };
    const provers = new Set<string>();
    const cliUsers = new Set<string>();
    for (const step of commands) {
      if (step.kind === "cli") {
        cliUsers.add((await createUserWithToken(db, { email: target })).user.id);
      } else if (step.kind === "signIn") {
        const email = step.address === "target" ? target : (others[step.subject] as string);
        const before = await db.user.findUnique({
          where: { email: target },
          select: {
            id: true,
            jwtSubject: true,
            emailVerified: true,
            _count: { select: { tokens: true, memberships: true } },
          },
        });
        const viewer = await userForJwtIdentity(db, {
          subject: subjects[step.subject] as string,
          email,
          emailVerified: step.verified,
        });
        if (step.verified && email === target) {
          provers.add(subjects[step.subject] as string);
          const wasFree =
            !before ||
            (before.jwtSubject === null &&
              !before.emailVerified &&
              before._count.tokens === 0 &&
              before._count.memberships === 0);
          if (wasFree) expect(viewer.email).toBe(target);
        }
        if (viewer.email === target) expect(provers.has(subjects[step.subject] as string)).toBe(true);
      } else if (step.kind === "invite") {
        await inviteUsers(
          db,
          { organizationId: org.id, actor, input: { invitees: [{ email: target, role: "ADMIN" }] } },
          settings,
        );
      } else {
        const subject = subjects[step.subject] as string;
        const user = await db.user.findUnique({ where: { jwtSubject: subject } });
        const invite = await db.invite.findFirst({
          where: { organizationId: org.id, email: target, status: "PENDING" },
        });
        if (user && invite) {
          const viewer: Viewer = {
            id: user.id,
            email: user.email,
            emailVerified: user.emailVerified,
            tokenId: null,
            subject,
          };
          const joined = await joinWithInvite(db, viewer, { organizationId: org.id, inviteId: invite.id }).then(
            () => true,
            () => false,
          );
          if (joined) expect(provers.has(subject)).toBe(true);
        }
      }

      // After every step: only a prover (or the operator's users) holds the address or its invites.
      const holder = await db.user.findUnique({ where: { email: target } });
      if (holder?.jwtSubject) expect(provers.has(holder.jwtSubject)).toBe(true);
      if (holder && !holder.jwtSubject && holder.emailVerified) expect(cliUsers.has(holder.id)).toBe(true);
      const pending = await db.invite.findMany({
        where: { email: target, status: "PENDING" },
        select: { userId: true },
      });
      for (const invite of pending) expect(invite.userId).toBe(holder?.id ?? null);
      for (const subject of subjects) {
        if (provers.has(subject)) continue;
        const user = await db.user.findUnique({
          where: { jwtSubject: subject },
          include: { invites: true, memberships: true },
        });
        if (!user) continue;
        expect(user.email).not.toBe(target);
        expect(cliUsers.has(user.id)).toBe(false);
        expect(user.invites.filter((i) => i.email === target)).toEqual([]);
        expect(user.memberships.filter((m) => m.organizationId === org.id)).toEqual([]);
      }
    }
  }

  it("holds for any sequence", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), (commands) => run(app.current, commands)),
      { numRuns: 40, seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined },
    );
  });
});
