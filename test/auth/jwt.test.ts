import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { type TestApp, uniqueEmail, useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const ISSUER = "https://idp.example.com/";
const AUDIENCE = "invites-gateway";
type Key = Awaited<ReturnType<typeof generateKeyPair>>;

/** A local identity provider's JWKS endpoint on loopback, whose key set a test can rotate. */
async function startJwks() {
  let keys: JWK[] = [];
  let fetches = 0;
  const server: Server = createServer((_req, res) => {
    fetches += 1;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    async publish(...pairs: Array<{ kid: string; key: Key; alg: string }>) {
      keys = await Promise.all(
        pairs.map(async ({ kid, key, alg }) => ({ ...(await exportJWK(key.publicKey)), kid, alg, use: "sig" })),
      );
    },
    fetches: () => fetches,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function sign(
  key: Key,
  alg: string,
  kid: string | undefined,
  claims: Record<string, unknown>,
  options: { exp?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
    .setIssuer((claims.iss as string) ?? ISSUER)
    .setAudience((claims.aud as string) ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.exp ?? "5m")
    .sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const VIEWER = "{ viewer { id email } }";

async function expectRejected(app: TestApp, token: string, message: RegExp) {
  const res = await app.gql(VIEWER, { token });
  expect(res.status).toBe(401);
  expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  expect(res.errors?.[0]?.message).toMatch(message);
  expect(res.data ?? null).toBeNull();
}

const jwks = await startJwks();
const rsa = await generateKeyPair("RS256", { extractable: true });
const rsaNext = await generateKeyPair("RS256", { extractable: true });
const ec = await generateKeyPair("ES256", { extractable: true });
await jwks.publish({ kid: "rsa-1", key: rsa, alg: "RS256" }, { kid: "ec-1", key: ec, alg: "ES256" });
afterAll(() => jwks.close());

describe.each(DB_KINDS)("JWT sign-in through a JWKS (%s)", (kind) => {
  const app = useTestApp(kind, {
    JWT_JWKS_URL: jwks.url,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_JWKS_COOLDOWN: "1s",
  });

  it("finds or creates the user from sub and email (RS256 and ES256)", async () => {
    const email = uniqueEmail("idp");
    const sub = `sub-${email}`;
    const first = await app.current.gql(VIEWER, {
      token: await sign(rsa, "RS256", "rsa-1", { sub, email: email.toUpperCase(), email_verified: true }),
    });
    expect(first.errors).toBeUndefined();
    expect(first.data?.viewer.email).toBe(email);
    const again = await app.current.gql(VIEWER, { token: await sign(ec, "ES256", "ec-1", { sub }) });
    expect(again.data?.viewer).toEqual(first.data?.viewer);
    const row = await app.current.db.user.findUniqueOrThrow({ where: { jwtSubject: sub } });
    expect(row).toMatchObject({ email, emailVerified: true });
  });

  it("links a verified email to the user the operator created, and API tokens keep working", async () => {
    const existing = await app.current.seed.user("linked");
    const viaJwt = await app.current.gql(VIEWER, {
      token: await sign(rsa, "RS256", "rsa-1", {
        sub: `sub-${existing.email}`,
        email: existing.email,
        email_verified: true,
      }),
    });
    expect(viaJwt.data?.viewer.id).toBe(existing.id);
    const viaToken = await app.current.gql(VIEWER, { token: existing.token });
    expect(viaToken.data?.viewer.id).toBe(existing.id);
  });

  it("never takes over an existing email that the token does not say is verified", async () => {
    const existing = await app.current.seed.user("victim");
    const res = await app.current.gql(VIEWER, {
      token: await sign(rsa, "RS256", "rsa-1", { sub: `attacker-${existing.email}`, email: existing.email }),
    });
    expect(res.data?.viewer.id).not.toBe(existing.id);
    expect(res.data?.viewer.email).toBeNull();
  });

  it("joins with an email invite only when email_verified is true", async () => {
    const org = await app.current.seed.org();
    const email = uniqueEmail("invitee");
    const invite = await app.current.gql(
      `mutation($o: ID!, $e: String!) { inviteUsersToOrganization(organizationId: $o, input: { emails: [$e] }) {
        ... on InviteUsersToOrganizationSuccess { invites { id } } } }`,
      { token: org.owner.token, variables: { o: org.id, e: email } },
    );
    const inviteId = invite.data?.inviteUsersToOrganization.invites[0].id;
    const join = `mutation($o: ID!, $i: ID!) { joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
      __typename ... on Error { code } } }`;
    const unverified = await app.current.gql(join, {
      token: await sign(rsa, "RS256", "rsa-1", { sub: `sub-${email}`, email, email_verified: false }),
      variables: { o: org.id, i: inviteId },
    });
    expect(unverified.data?.joinOrganizationWithInvite.code).toBe("INVITE_EMAIL_MISMATCH");
    const verified = await app.current.gql(join, {
      token: await sign(rsa, "RS256", "rsa-1", { sub: `sub-${email}`, email, email_verified: true }),
      variables: { o: org.id, i: inviteId },
    });
    expect(verified.data?.joinOrganizationWithInvite.__typename).toBe("JoinOrganizationWithInviteSuccess");
  });

  it("rejects an expired token, a wrong issuer and a wrong audience", async () => {
    const sub = "sub-rejections";
    await expectRejected(app.current, await sign(rsa, "RS256", "rsa-1", { sub }, { exp: "1 minute ago" }), /expired/);
    await expectRejected(
      app.current,
      await sign(rsa, "RS256", "rsa-1", { sub, iss: "https://evil.example.com/" }),
      /"iss"/,
    );
    await expectRejected(app.current, await sign(rsa, "RS256", "rsa-1", { sub, aud: "another-api" }), /"aud"/);
  });

  it("rejects alg none and HS256 signed with the public key", async () => {
    const claims = { sub: "sub-none", iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 };
    await expectRejected(app.current, `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`, /algorithm|verified/);
    const publicPem = await exportSPKI(rsa.publicKey);
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", kid: "rsa-1" })
      .sign(new TextEncoder().encode(publicPem));
    await expectRejected(app.current, hs, /algorithm|verified/);
  });

  it("re-fetches the JWKS for an unknown kid after a rotation", async () => {
    const sub = "sub-rotation";
    await expectRejected(app.current, await sign(rsaNext, "RS256", "rsa-2", { sub }), /unknown key/);
    await jwks.publish({ kid: "rsa-2", key: rsaNext, alg: "RS256" });
    await new Promise((r) => setTimeout(r, 1_100)); // JWT_JWKS_COOLDOWN
    const before = jwks.fetches();
    const res = await app.current.gql(VIEWER, { token: await sign(rsaNext, "RS256", "rsa-2", { sub }) });
    expect(res.errors).toBeUndefined();
    expect(jwks.fetches()).toBe(before + 1);
    // The retired key no longer verifies.
    await expectRejected(app.current, await sign(rsa, "RS256", "rsa-1", { sub }), /unknown key|verified/);
    await jwks.publish({ kid: "rsa-1", key: rsa, alg: "RS256" }, { kid: "ec-1", key: ec, alg: "ES256" });
  });
});

describe("JWT sign-in with one public key (JWT_PUBLIC_KEY)", () => {
  const ecOnly = { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };
  let pem = "";
  beforeAll(async () => {
    pem = await exportSPKI(ec.publicKey);
  });

  it("accepts ES256 tokens of that key and nothing else", async () => {
    const { createTestApp } = await import("../helpers/app.js");
    const app = await createTestApp("pglite", { ...ecOnly, JWT_PUBLIC_KEY: pem.replace(/\n/g, "\\n") });
    try {
      const ok = await app.gql(VIEWER, { token: await sign(ec, "ES256", undefined, { sub: "pem-user" }) });
      expect(ok.errors).toBeUndefined();
      await expectRejected(
        app,
        await sign(rsa, "RS256", undefined, { sub: "pem-user" }),
        /verified|signature|algorithm/,
      );
    } finally {
      await app.close();
    }
  });

  it.each([
    [{ JWT_PUBLIC_KEY: "not a key", ...ecOnly }, "JWT_PUBLIC_KEY"],
    [{ JWT_JWKS_URL: "http://127.0.0.1:1/jwks", JWT_AUDIENCE: AUDIENCE }, "JWT_ISSUER"],
    [{ JWT_JWKS_URL: "http://127.0.0.1:1/jwks", JWT_ISSUER: ISSUER }, "JWT_AUDIENCE"],
    [{ JWT_ISSUER: ISSUER }, "JWT_ISSUER"],
  ])("refuses the configuration %j naming %s", (env, name) => {
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid configuration: ${name}:`));
  });
});
