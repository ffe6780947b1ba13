/**
 * The cache of accepted API tokens (src/auth/tokens.ts): a cached token costs no SQL, a revocation in this
 * process evicts it at once, one in another process arrives by NOTIFY (PostgreSQL), an expiring
 * token is never served past its expiry, and the cache is bypassed while it is inactive.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { listenForRevocations } from "../../src/auth/revocations.js";
import { createAuthCache } from "../../src/auth/tokens.js";
import { hashToken } from "../../src/domain/ids.js";
import { createToken, createUserWithToken, revokeToken } from "../../src/domain/users.js";
import { createGraphQLHandler } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";
import { useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const viewer = { id: "u1", email: "a@example.com", emailVerified: true, tokenId: "t1", subject: null };

describe("createAuthCache", () => {
  it("keeps an entry for ttlMs, never past the token's expiry, at most maxEntries (LRU)", async () => {
    const cache = createAuthCache({ ttlMs: 60_000, maxEntries: 2 });
    cache.set("a", viewer, null);
    cache.set("b", viewer, new Date(Date.now() + 20));
    expect(cache.get("a")).toEqual(viewer);
    expect(cache.get("b")).toEqual(viewer);
    await new Promise((r) => setTimeout(r, 30));
    expect(cache.get("b")).toBeUndefined();
    cache.set("c", viewer, null);
    cache.set("d", viewer, null); // "a" is the least recently used: out
    expect([cache.get("a"), cache.size]).toEqual([undefined, 2]);
    cache.active = false;
    expect(cache.get("c")).toBeUndefined();
    cache.set("e", viewer, null);
    cache.active = true;
    expect(cache.get("e")).toBeUndefined();
    cache.close();
  });
});

describe.each(DB_KINDS)("the auth cache on the service (%s)", (kind) => {
  const app = useTestApp(kind);

  it("answers a known token without SQL; a revocation in this process rejects it at once", async () => {
    const cache = createAuthCache({ ttlMs: 60_000, maxEntries: 100 });
    const { db, testDb } = app.current;
    const yoga = createGraphQLHandler({ db, config: testDb.config, logger: createLogger("silent"), authCache: cache });
    const ask = async (token: string, query = "{ viewer { id } }") => {
      const res = await yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query }),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    try {
      const user = await app.current.seed.user("cached");
      expect((await ask(user.token)).body.data.viewer.id).toBe(user.id);
      // `__typename` sends no SQL of its own: whatever is counted is the token lookup.
      const again = await app.current.countQueries(() => ask(user.token, "{ __typename }"));
      expect(again.result.status).toBe(200);
      expect(again.count, again.statements.join("\n")).toBe(0);

      await revokeToken(db, user.token);
      const denied = await ask(user.token);
      expect(denied.status).toBe(401);
      expect(denied.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");

      const { token: expiring } = await createToken(db, { email: user.email, expiresInMs: 300 });
      expect((await ask(expiring)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 350));
      expect((await ask(expiring)).status).toBe(401);
    } finally {
      await yoga.dispose();
      cache.close();
    }
  });

  it("a join reads the viewer's email as it is now, not as the cache kept it", async () => {
    const cache = createAuthCache({ ttlMs: 60_000, maxEntries: 100 });
    const { db, testDb, seed } = app.current;
    const yoga = createGraphQLHandler({ db, config: testDb.config, logger: createLogger("silent"), authCache: cache });
    const ask = async (token: string, query: string, variables: Record<string, unknown> = {}) => {
      const res = await yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as any;
    };
    try {
      const admin = await seed.user("cache-admin");
      const org = await seed.org(admin, "Cached");
      const carol = await seed.user("cache-carol");
      await db.user.update({ where: { id: carol.id }, data: { emailVerified: false } });
      // Carol's token is now cached with her email unverified.
      expect((await ask(carol.token, "{ viewer { id } }")).data.viewer.id).toBe(carol.id);
      const invited = await ask(
        admin.token,
        `mutation ($o: ID!, $e: [String!]!) { inviteUsersToOrganization(organizationId: $o, input: { emails: $e }) {
          ... on InviteUsersToOrganizationSuccess { invites { id } } } }`,
        { o: org.id, e: [carol.email] },
      );
      const inviteId = invited.data.inviteUsersToOrganization.invites[0].id;
      // The operator verifies her email (what `cli user create` does for an existing address).
      await createUserWithToken(db, { email: carol.email });
      const joined = await ask(
        carol.token,
        `mutation ($o: ID!, $i: ID!) { joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
          __typename ... on Error { code message } } }`,
        { o: org.id, i: inviteId },
      );
      expect(joined.data.joinOrganizationWithInvite).toEqual({ __typename: "JoinOrganizationWithInviteSuccess" });
    } finally {
      await yoga.dispose();
      cache.close();
    }
  });

  it.skipIf(kind !== "postgres")(
    "a revocation NOTIFYed by another process evicts the token; the cache is off until it listens",
    async () => {
      const url = app.current.testDb.url as string;
      const cache = createAuthCache({ ttlMs: 60_000, maxEntries: 100 });
      const listener = listenForRevocations(url, cache, createLogger("silent"), 5_000);
      expect(cache.active).toBe(false);
      try {
        for (let i = 0; i < 100 && !cache.active; i++) await new Promise((r) => setTimeout(r, 20));
        expect(cache.active).toBe(true);
        const user = await app.current.seed.user("notified");
        cache.set(hashToken(user.token), viewer, null);
        // The same NOTIFY revokeToken sends, from a client that has no in-process listener of ours.
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        await client.query("SELECT pg_notify('igw_token_revoked', $1)", [hashToken(user.token)]);
        await client.end();
        for (let i = 0; i < 100 && cache.get(hashToken(user.token)); i++) await new Promise((r) => setTimeout(r, 20));
        expect(cache.get(hashToken(user.token))).toBeUndefined();
      } finally {
        await listener.close();
        cache.close();
      }
    },
  );
});
