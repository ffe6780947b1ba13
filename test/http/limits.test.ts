import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { useTestApp } from "../helpers/app.js";
import { postInChunks } from "../helpers/socket.js";

/**
 * A query `levels` fields deep: viewer > organizations > organization > members(first: 1) > edges >
 * node > organization > ... ending on a scalar (the scalar is the deepest level). One-item pages:
 * deep, but cheap (MAX_COST counts each list by the items it may return).
 */
function deepQuery(levels: number): string {
  const cycle = ["organization", "members(first: 1)", "edges", "node"];
  let query = "__typename";
  for (let i = levels - 4; i >= 0; i--) query = `${cycle[i % cycle.length]} { ${query} }`;
  return `{ viewer { organizations { ${query} } } }`;
}

const codes = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) =>
  (res.errors ?? []).map((e) => e.extensions?.code);

describe("request limits (graphql-armor) and HTTP hygiene", () => {
  const app = useTestApp("pglite", { MAX_ENTITY_REPRESENTATIONS: "120", MAX_BODY_BYTES: "20000" });

  it("refuses a query deeper than 12 levels with a top-level BAD_USER_INPUT error", async () => {
    const user = await app.current.seed.user();
    const ok = await app.current.gql(deepQuery(12), { token: user.token });
    expect(ok.errors).toBeUndefined();
    const tooDeep = await app.current.gql(deepQuery(13), { token: user.token });
    expect(tooDeep.data ?? null).toBeNull();
    expect(codes(tooDeep)).toContain("BAD_USER_INPUT");
    expect(tooDeep.errors?.[0]?.message).toMatch(/depth/i);
  });

  it("refuses more than 30 aliases", async () => {
    const user = await app.current.seed.user();
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: viewer { id }`).join(" ")} }`;
    expect((await app.current.gql(aliases(30), { token: user.token })).errors).toBeUndefined();
    const tooMany = await app.current.gql(aliases(31), { token: user.token });
    expect(codes(tooMany)).toContain("BAD_USER_INPUT");
    expect(tooMany.errors?.[0]?.message).toMatch(/alias/i);
  });

  it("lets a gateway's _entities plan through: depth 7, 100 representations", async () => {
    const org = await app.current.seed.org();
    const reps = Array.from({ length: 100 }, () => ({ __typename: "Organization", id: org.id }));
    const res = await app.current.gql(
      `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Organization {
        members(first: 5) { edges { node { user { id email } } } } } } }`,
      { token: org.owner.token, variables: { reps } },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?._entities).toHaveLength(100);
  });

  it("caps the representations of one _entities call (MAX_ENTITY_REPRESENTATIONS)", async () => {
    const org = await app.current.seed.org();
    const reps = Array.from({ length: 121 }, () => ({ __typename: "Organization", id: org.id }));
    const res = await app.current.gql(
      "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Organization { id } } }",
      { token: org.owner.token, variables: { reps } },
    );
    expect(codes(res)).toEqual(["BAD_USER_INPUT"]);
    expect(res.errors?.[0]?.message).toMatch(/At most 120 representations/);
  });

  it("refuses a malformed _entities representation with BAD_USER_INPUT, not a masked crash", async () => {
    const org = await app.current.seed.org();
    const malformed: unknown[] = [
      { __typename: "Organization", id: 5 },
      { __typename: "Organization", id: { a: 1 } },
      { __typename: "Organization" },
      { __typename: "User", id: ["a"] },
      { __typename: "Invite", id: null },
      { __typename: "Nope", id: "1" },
      { __typename: "__proto__", id: "1" },
      { __typename: "Space", id: "1" }, // a reference to another subgraph's entity, not resolvable here
      { id: "1" },
      "Organization",
    ];
    for (const bad of malformed) {
      const res = await app.current.gql(
        "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Organization { id } } }",
        { token: org.owner.token, variables: { reps: [{ __typename: "Organization", id: org.id }, bad] } },
      );
      expect(codes(res), JSON.stringify(bad)).toEqual(["BAD_USER_INPUT"]);
      expect(res.errors?.[0]?.message).toMatch(/Representation 1 must be/);
    }
  });

  it("refuses a request body above MAX_BODY_BYTES with 413", async () => {
    const response = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ viewer { id } } # ${"x".repeat(25_000)}` }),
    });
    expect(response.status).toBe(413);
  });

  it("counts the bytes of a body sent without Content-Length (chunked) over a real socket", async () => {
    const server = createServer(app.current.yoga);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const post = (body: string, contentLength?: number) => postInChunks(port, "/graphql", body, contentLength);
    try {
      const small = JSON.stringify({ query: `{ __typename } # ${"x".repeat(15_000)}` });
      const large = JSON.stringify({ query: `{ __typename } # ${"x".repeat(25_000)}` });
      const chunkedSmall = await post(small);
      expect(chunkedSmall.status).toBe(200);
      expect(JSON.parse(chunkedSmall.body)).toEqual({ data: { __typename: "Query" } });
      const chunkedLarge = await post(large);
      expect(chunkedLarge.status).toBe(413);
      expect(JSON.parse(chunkedLarge.body).errors[0].extensions.code).toBe("REQUEST_ENTITY_TOO_LARGE");
      const declaredLarge = await post(large, Buffer.byteLength(large));
      expect(declaredLarge.status).toBe(413);
      expect((await post(small, Buffer.byteLength(small))).status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("refuses a Content-Length that is not one number with 400", async () => {
    const response = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": "30, 30" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(response.status).toBe(400);
    expect((await response.json()).errors[0].extensions.code).toBe("BAD_REQUEST");
  });

  it("sends no CORS headers to other origins by default, and security headers always", async () => {
    const response = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", origin: "https://evil.example.com" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    const preflight = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("refuses what a browser could send cross-site without a preflight (CSRF prevention)", async () => {
    const url = `http://localhost/graphql?query=${encodeURIComponent("{ __typename }")}`;
    const bare = await app.current.yoga.fetch(url, { method: "GET" });
    expect(bare.status).toBe(403);
    const body = (await bare.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.errors[0]?.extensions.code).toBe("BAD_REQUEST");
    expect(body.errors[0]?.message).toMatch(/x-graphql-yoga-csrf/);

    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const form = await app.current.yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers: { "content-type": contentType },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
      expect(form.status, contentType).toBe(403);
    }

    // A header a form cannot set makes the browser preflight: then CORS decides.
    for (const headers of [{ "x-graphql-yoga-csrf": "1" }, { "apollo-require-preflight": "true" }]) {
      const ok = await app.current.yoga.fetch(url, { method: "GET", headers });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ data: { __typename: "Query" } });
    }
    const json = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(json.status).toBe(200);
  });
});

describe("CORS_ORIGINS and INTROSPECTION=false", () => {
  const app = useTestApp("pglite", { CORS_ORIGINS: "https://app.example.com", INTROSPECTION: "false" });

  it("allows exactly the listed origins", async () => {
    const ask = (origin: string) =>
      app.current.yoga.fetch("http://localhost/graphql", {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization" },
      });
    expect((await ask("https://app.example.com")).headers.get("access-control-allow-origin")).toBe(
      "https://app.example.com",
    );
    const actual = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { origin: "https://app.example.com", "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(actual.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(actual.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("retry-after");
    // Another origin is never echoed back (the browser then refuses the response).
    expect((await ask("https://evil.example.com")).headers.get("access-control-allow-origin")).not.toBe(
      "https://evil.example.com",
    );
  });

  it("refuses introspection but still answers _service { sdl } for gateways", async () => {
    const intro = await app.current.gql("{ __schema { types { name } } }");
    expect(intro.data ?? null).toBeNull();
    expect(intro.errors?.[0]?.message).toMatch(/introspection/i);
    const sdl = await app.current.gql("{ _service { sdl } }");
    expect(sdl.data?._service.sdl).toContain("type Organization");
  });
});

describe("masked errors whatever NODE_ENV says", () => {
  it("hides an internal failure's message, stack and SQL even with NODE_ENV=development", async () => {
    const { createTestApp } = await import("../helpers/app.js");
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = "development";
    const app = await createTestApp("pglite");
    try {
      await app.db.$executeRawUnsafe(`CREATE FUNCTION igw_fail() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'secret-detail from SELECT * FROM "Organization"'; END $$ LANGUAGE plpgsql`);
      await app.db.$executeRawUnsafe(
        `CREATE TRIGGER igw_fail BEFORE INSERT ON "Organization" FOR EACH ROW EXECUTE FUNCTION igw_fail()`,
      );
      const user = await app.seed.user();
      const res = await app.gql(`mutation { createOrganization(input: { title: "x" }) { __typename } }`, {
        token: user.token,
      });
      expect(res.errors?.map((e) => e.message)).toEqual(["Unexpected error."]);
      const text = JSON.stringify(res);
      expect(text).not.toMatch(/secret-detail|SELECT|stack|originalError/);
    } finally {
      process.env.NODE_ENV = previous;
      await app.close();
    }
  });
});

describe("MAX_COST", () => {
  const app = useTestApp("pglite", { MAX_COST: "200" });

  it("refuses a query whose fields cost more than MAX_COST, and not a deep but narrow one", async () => {
    const user = await app.current.seed.user();
    // A page of 100 members, each with a few fields: cost grows with the page size.
    const wide =
      "{ viewer { organizations { organization { members(first: 100) { edges { node { role sso joinedAt } } } } } } }";
    const res = await app.current.gql(wide, { token: user.token });
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.message).toMatch(/cost/i);
    // Twelve levels of one-item pages: depth alone costs little (no per-level factor).
    const org = await app.current.seed.org(user);
    const narrow = await app.current.gql(
      `query($o: ID!) { organization(id: $o) { members(first: 1) { edges { node { organization {
        members(first: 1) { edges { node { user { id } } } } } } } } } }`,
      { token: user.token, variables: { o: org.id } },
    );
    expect(narrow.errors).toBeUndefined();
  });
});
