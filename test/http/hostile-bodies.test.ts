/**
 * Request bodies an attacker would send: deeply nested, unbalanced, long, malformed, of any content
 * type. Each gets a 4xx or a GraphQL error with a code, never a 5xx, and the handler keeps answering
 * (issue 14). Through `yoga.fetch`, the real HTTP handler; test/http/hostile-bodies-socket.test.ts sends
 * what only a socket can (invalid bytes, chunked bodies, a wrong Content-Length, a closed connection).
 *
 * Found here: `{ a ` × 12,000 was a 500 (graphql-js' recursive parser overflowed its stack before
 * any limit answered); `?variables={` (GET, or a form body) was a 500 (Yoga's parser JSON.parses it
 * unguarded); multipart bodies with a malformed `map` were 500s, other malformed ones 200s whose
 * errors had no code (multipart is now refused: there are no uploads); a `first` variable nested
 * 5,000 deep overflowed the stack in the cost limit's cache key. test/http/hostile-bodies-memory.test.ts
 * covers distinct large documents filling Yoga's document caches.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { type TestUser, useTestApp } from "../helpers/app.js";

describe("hostile bodies", () => {
  const app = useTestApp("pglite");

  const post = async (body: string, contentType = "application/json", headers: Record<string, string> = {}) => {
    const response = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": contentType, ...headers },
      body,
    });
    const text = await response.text();
    return { status: response.status, text };
  };

  const coded = (text: string) => {
    const body = JSON.parse(text) as { errors?: Array<{ extensions?: { code?: string } }> };
    return (body.errors ?? []).map((e) => e.extensions?.code);
  };

  it("answers `{ a ` × 12,000 (unclosed) with 400 BAD_USER_INPUT, and serves the next request", async () => {
    const res = await post(JSON.stringify({ query: "{ a ".repeat(12_000) }));
    expect(res.status, res.text).toBe(400);
    expect(coded(res.text)).toEqual(["BAD_USER_INPUT"]);
    expect(res.text).toMatch(/nests deeper/);
    const next = await post(JSON.stringify({ query: "{ __typename }" }));
    expect(JSON.parse(next.text)).toEqual({ data: { __typename: "Query" } });
  });

  it.each([
    ["closed selection sets", (n: number) => `${"{ a ".repeat(n)}${"}".repeat(n)}`],
    ["a nested list argument", (n: number) => `{ organization(id: ${"[".repeat(n)}"x"${"]".repeat(n)}) { id } }`],
    ["a nested input object", (n: number) => `{ organization(id: ${"{a:".repeat(n)}1${"}".repeat(n)}) { id } }`],
    ["unbalanced parentheses", (n: number) => `{ organization${"(".repeat(n)} }`],
  ])("answers %s 100,000 deep with a 4xx and a code", async (_name, build) => {
    const res = await post(JSON.stringify({ query: build(100_000) }));
    expect(res.status, res.text.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(res.status, res.text.slice(0, 300)).toBeLessThan(500);
    expect(coded(res.text).every((code) => typeof code === "string")).toBe(true);
  });

  it("never answers a 5xx to brackets, quotes and names in any order, at any depth up to 2,000", async () => {
    const piece = fc.constantFrom("{", "}", "[", "]", "(", ")", '"', '"""', "a", " ", ":", "$v", "...", "#", "\\", "@");
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 200 }),
        fc.integer({ min: 1, max: 2_000 }),
        async (pieces, times) => {
          const query = pieces.join("").repeat(Math.max(1, Math.floor(times / Math.max(1, pieces.length))));
          const res = await post(JSON.stringify({ query }));
          expect(res.status, `${query.slice(0, 200)} -> ${res.text.slice(0, 200)}`).toBeLessThan(500);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("answers a `first` variable nested 5,000 and 100,000 deep as graphql-js does a shallow one: 400 BAD_USER_INPUT", async () => {
    // Was: src/http/plugins/cost-limit.ts JSON.stringify-ed the value for its cache key and overflowed the stack
    // ("The cost of this query cannot be counted ...: Maximum call stack size exceeded").
    const query =
      "query($id: ID!, $n: Int) { organization(id: $id) { members(first: $n) { edges { node { role } } } } }";
    for (const n of [10, 5_000, 100_000]) {
      const res = await post(
        `{"query":${JSON.stringify(query)},"variables":{"id":"x","n":${"[".repeat(n)}${"]".repeat(n)}}}`,
      );
      expect(res.status, res.text.slice(0, 300)).toBe(400);
      expect(coded(res.text)).toEqual(["BAD_USER_INPUT"]);
      expect(res.text).toMatch(/Variable \\"\$n\\" got invalid value/);
    }
  });

  it("answers `variables` or `extensions` that are not JSON, in a query string or a form body, with 400 BAD_REQUEST", async () => {
    const csrf = { "x-graphql-yoga-csrf": "1" };
    const params = [
      "query=%7B__typename%7D&variables=%7B",
      "query=%7B__typename%7D&extensions=%7B",
      "query=%E0%A4%A&variables=%",
      "query=%7B__typename%7D&variables=%5B%5B%5B",
    ];
    for (const search of params) {
      const get = await app.current.yoga.fetch(`http://localhost/graphql?${search}`, { headers: csrf });
      const getText = await get.text();
      expect(get.status, `GET ${search}: ${getText}`).toBe(400);
      expect(coded(getText), search).toEqual(["BAD_REQUEST"]);
      const form = await post(search, "application/x-www-form-urlencoded", csrf);
      expect(form.status, `form ${search}: ${form.text}`).toBe(400);
      expect(coded(form.text), search).toEqual(["BAD_REQUEST"]);
    }
    const ok = await app.current.yoga.fetch(
      `http://localhost/graphql?query=${encodeURIComponent("query($v: Boolean!) { __typename @skip(if: $v) }")}&variables=%7B%22v%22%3Afalse%7D`,
      { headers: csrf },
    );
    expect(await ok.json()).toEqual({ data: { __typename: "Query" } });
    const form = await post(
      "query=%7B__typename%7D&operationName=&variables=&extensions=",
      "application/x-www-form-urlencoded",
      csrf,
    );
    expect(JSON.parse(form.text)).toEqual({ data: { __typename: "Query" } });
  });

  it("refuses multipart bodies (no uploads) with 415 before reading them, malformed or not", async () => {
    const part = (name: string, value: string) =>
      `--b\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const bodies = [
      // Each was a 500 (Yoga's multipart parser): a map entry that is not a list, `operations` null.
      `${part("operations", '{"query":"{ __typename }"}')}${part("map", '{"0":5}')}--b--\r\n`,
      `${part("operations", "null")}${part("map", '{"0":["variables.x"]}')}--b--\r\n`,
      // A 200 whose error had no code.
      `${part("operations", "{{{")}--b--\r\n`,
      `${part("operations", '{"query":"{ __typename }"}')}--b--\r\n`,
    ];
    for (const body of bodies) {
      const res = await post(body, "multipart/form-data; boundary=b", { "x-graphql-yoga-csrf": "1" });
      expect(res.status, `${body} -> ${res.text}`).toBe(415);
    }
    // Without the CSRF header, the CSRF refusal answers first, as before.
    const bare = await post(bodies[0] as string, "multipart/form-data; boundary=b");
    expect(bare.status).toBe(403);
    expect(coded(bare.text)).toEqual(["BAD_REQUEST"]);
  });
});

/**
 * The property over the request parser's input space: any method of the GraphQL endpoint and the
 * REST twin's body-taking routes, any content type, and bodies built of the pieces attackers use,
 * each answered with a status below 500 and, when the answer is JSON, errors that all carry a code;
 * after each one, `{ __typename }` still answers. The work a request may cause is bounded by the
 * limits: a run that hangs fails on fast-check's per-run timeout (a hang guard, not a measurement).
 */
describe("hostile bodies, any content type, any route (property)", () => {
  const app = useTestApp("pglite");
  const BODY_LIMIT = 1_000_000; // MAX_BODY_BYTES default
  const RUNS = 300;
  const WELL_FORMED_RUNS = 400;
  let user: TestUser;
  let orgId: string;

  beforeAll(async () => {
    const org = await app.current.seed.org();
    user = org.owner;
    orgId = org.id;
  });

  /** Nesting depths: small, at the limits (MAX_DEPTH 12 + 64), and up to 100,000. */
  const depth = fc.oneof(
    fc.integer({ min: 0, max: 100 }),
    fc.constantFrom(75, 76, 77, 1_000, 12_000, 100_000),
    fc.integer({ min: 0, max: 100_000 }),
  );

  /** JSON text nested `n` deep, balanced or not (built as text: JSON.stringify would recurse). */
  const opening = fc.constantFrom("[", '{"a":', '{"":[', '[{"a":', '{"__proto__":');
  const nest = (n: number, open: string, shape: string) => {
    const close = open
      .replace(/"[^"]*":/g, "")
      .split("")
      .reverse()
      .map((c) => (c === "[" ? "]" : "}"))
      .join("");
    const inner = open.endsWith(":") ? "1" : "";
    if (shape === "open") return open.repeat(n) + inner;
    if (shape === "extra") return open.repeat(n) + inner + close.repeat(n + 1);
    if (shape === "swapped")
      return open.repeat(n) + inner + close.replace(/[\]}]/g, (c) => (c === "]" ? "}" : "]")).repeat(n);
    return open.repeat(n) + inner + close.repeat(n);
  };
  const balancedJson = fc.tuple(depth, opening).map(([n, open]) => nest(n, open, "closed"));
  const deepJson = fc.oneof(
    { arbitrary: balancedJson, weight: 2 },
    {
      arbitrary: fc
        .tuple(depth, opening, fc.constantFrom("open", "extra", "swapped"))
        .map(([n, o, shape]) => nest(n, o, shape)),
      weight: 1,
    },
  );

  /** Strings near and over the body limit, and short ones of every kind of code unit. */
  const hugeLength = fc.constantFrom(BODY_LIMIT - 200, BODY_LIMIT - 60, BODY_LIMIT, BODY_LIMIT + 1, 2 * BODY_LIMIT);
  const oddString = fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.constantFrom("\ud800", "\udfff", "\u0000", "\ufeff", "\u202e", '"', "\\", '"""'),
  );

  /** GraphQL document text: brackets, quotes and names in any order, deep or long. */
  const piece = fc.constantFrom(
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    '"',
    '"""',
    "a",
    " ",
    ":",
    "$v",
    "...",
    "#",
    "\\",
    "@",
    "\n",
    "!",
  );
  const smallDocument = fc.oneof(
    fc.constant("{ __typename }"),
    fc.constantFrom(
      "query($v: String, $n: Int, $s: Boolean!) { __typename @skip(if: $s) }",
      "query($id: ID!, $n: Int) { organization(id: $id) { members(first: $n) { edges { node { role } } } } }",
      "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
      "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { __typename } }",
    ),
    fc
      .tuple(fc.array(piece, { maxLength: 60 }), fc.integer({ min: 1, max: 3_000 }))
      .map(([p, times]) => p.join("").repeat(times)),
    fc
      .tuple(depth, fc.constantFrom("{ a ", "{ organization(id: ", "[", "{a:", "(", '"', '"""', "{ ...on Query "))
      .map(([n, open]) => open.repeat(n)),
    fc.tuple(depth).map(([n]) => `{ organization(id: ${"[".repeat(n)}"x"${"]".repeat(n)}) { id } }`),
    oddString.map((text) => `{ __typename ${text} }`),
  );
  const documentText = fc.oneof(
    { arbitrary: smallDocument, weight: 6 },
    {
      arbitrary: fc.oneof(
        hugeLength.map((n) => `{ __typename } # ${"x".repeat(n)}`),
        hugeLength.map((n) => `{ a(s: "${"x".repeat(n)}") }`),
      ),
      weight: 1,
    },
  );

  /** A JSON value for `variables` or `extensions` (or any field): fitting, of the wrong type, deep, huge. */
  const jsonValue = fc.oneof(
    fc.constantFrom(
      "{}",
      "null",
      "[]",
      '"{}"',
      "1",
      "true",
      '{"v":"x","n":1,"s":false,"id":"x","r":[],"input":{"title":"t"}}',
      '{"n":{"a":1},"s":"x","r":[{"__typename":"Organization","id":[[]]}],"input":{"title":[]}}',
    ),
    deepJson,
    fc.tuple(deepJson, fc.constantFrom("v", "n", "s", "id", "r", "input")).map(([deep, name]) => `{"${name}":${deep}}`),
    fc.constant(`{"v":"${"x".repeat(BODY_LIMIT - 100)}"}`),
    oddString.map((text) => JSON.stringify({ v: text })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  );

  /** Well-formed variables for the documents above, each of any shape, nested up to 100,000 deep. */
  const variablesObject = fc
    .dictionary(
      fc.constantFrom("v", "n", "s", "id", "r", "input"),
      fc.oneof(
        balancedJson,
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        oddString.map((t) => JSON.stringify(t)),
      ),
      { maxKeys: 3 },
    )
    .map(
      (fields) =>
        `{${Object.entries(fields)
          .map(([k, v]) => `"${k}":${v}`)
          .join(",")}}`,
    );

  /** A JSON request body: the GraphQL envelope with any of its fields absent, hostile or of the wrong type. */
  const envelope = fc
    .record(
      {
        query: fc.oneof(
          documentText.map((d) => JSON.stringify(d)),
          jsonValue,
        ),
        variables: jsonValue,
        extensions: jsonValue,
        operationName: fc.oneof(fc.constant('"x"'), jsonValue),
      },
      { requiredKeys: [] },
    )
    .map(
      (fields) =>
        `{${Object.entries(fields)
          .map(([k, v]) => `"${k}":${v}`)
          .join(",")}}`,
    );

  const utf8 = new TextEncoder();
  /** Invalid UTF-8: stray continuation bytes, overlong forms, encoded surrogates, truncated sequences. */
  const badBytes = fc.constantFrom(
    [0xff],
    [0xfe, 0xff],
    [0xc0, 0x80],
    [0xed, 0xa0, 0x80],
    [0xe0, 0xa4],
    [0x80],
    [0xf8, 0x88, 0x80, 0x80, 0x80],
  );
  const withBadBytes = fc.tuple(envelope, badBytes, fc.nat()).map(([text, bytes, at]) => {
    const encoded = utf8.encode(text);
    const cut = at % (encoded.length + 1);
    return Uint8Array.from([...encoded.subarray(0, cut), ...bytes, ...encoded.subarray(cut)]);
  });

  const multipart = fc
    .tuple(fc.constantFrom("b", "", "x".repeat(300)), fc.oneof(envelope, deepJson), jsonValue, fc.boolean())
    .map(([boundary, operations, map, terminated]) => {
      const part = (name: string, value: string) =>
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
      return `${part("operations", operations)}${part("map", map)}${terminated ? `--${boundary}--\r\n` : ""}`;
    });

  /** URL-encoded parameters, encoded right, or raw with broken percent-escapes and encoded surrogates. */
  const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
  const encode = (value: string) => encodeURIComponent(value.replace(LONE_SURROGATE, "\ufffd"));
  const searchValue = fc
    .oneof(documentText, jsonValue)
    .chain((value) =>
      fc.constantFrom(
        encode(value),
        value.replace(/[#&]/g, ""),
        `${encode(value)}%`,
        `%E0%A4%A${encode(value)}`,
        `%ED%A0%80${encode(value)}`,
        "%ZZ",
      ),
    );
  const searchParams = fc
    .record(
      { query: searchValue, variables: searchValue, extensions: searchValue, operationName: searchValue },
      { requiredKeys: [] },
    )
    .map((fields) =>
      Object.entries(fields)
        .map(([k, v]) => `${k}=${v}`)
        .join("&"),
    );

  const body: fc.Arbitrary<string | Uint8Array> = fc.oneof(
    { arbitrary: envelope, weight: 8 },
    { arbitrary: envelope.map((e) => `[${e},${e}]`), weight: 1 }, // a batch (batching is off)
    { arbitrary: deepJson, weight: 2 },
    { arbitrary: documentText, weight: 2 },
    { arbitrary: withBadBytes, weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 1 },
    { arbitrary: multipart, weight: 1 },
    { arbitrary: searchParams, weight: 1 },
    { arbitrary: hugeLength.map((n) => " ".repeat(n)), weight: 1 },
  );

  /** Mostly JSON (so that most bodies reach the GraphQL parser), and every other kind. */
  const contentType = fc.oneof(
    {
      arbitrary: fc.constantFrom(
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=klingon",
        "application/json; charset=utf-16",
        'application/json; boundary=x; charset="utf-8"',
        "application/json, text/plain",
        "application/graphql+json",
      ),
      weight: 3,
    },
    {
      arbitrary: fc.constantFrom(
        "application/graphql-response+json",
        "application/graphql",
        "application/graphql; charset=latin1",
        "multipart/form-data; boundary=b",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "application/x-www-form-urlencoded",
        "text/plain",
        "text/plain; charset=utf-8",
        "garbage",
        "",
        ";;;=",
        "*/*",
        null,
      ),
      weight: 2,
    },
  );

  const request = fc.record({
    target: fc.oneof(
      { arbitrary: fc.constant("POST /graphql"), weight: 6 },
      { arbitrary: fc.constant("GET /graphql"), weight: 2 },
      {
        arbitrary: fc.constantFrom(
          "PUT /graphql",
          "POST /v1/orgs/{org}/invites",
          "POST /v1/orgs/{org}/link-invites",
          "PATCH /v1/orgs/{org}/link-invites/some-link",
          "POST /v1/orgs/{org}/join",
        ),
        weight: 4,
      },
    ),
    contentType,
    body,
    search: searchParams,
    csrf: fc.boolean(),
    auth: fc.constantFrom("none", "valid", "garbage"),
  });

  type HostileRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;
  type Answer = { status: number; text: string; json: boolean };
  const send = async (r: HostileRequest): Promise<Answer> => {
    const [method, pathTemplate] = r.target.split(" ") as [string, string];
    const path = pathTemplate.replace("{org}", orgId);
    const headers: Record<string, string> = {};
    if (r.contentType !== null) headers["content-type"] = r.contentType;
    if (r.csrf) headers["x-graphql-yoga-csrf"] = "1";
    if (r.auth === "valid") headers.authorization = `Bearer ${user.token}`;
    if (r.auth === "garbage") headers.authorization = "Bearer \u00ff\u00fe not a token";
    const get = method === "GET";
    const response = await app.current.yoga.fetch(`http://localhost${path}${get ? `?${r.search}` : ""}`, {
      method,
      headers,
      ...(get ? {} : { body: r.body }),
    });
    const text = await response.text();
    return { status: response.status, text, json: /json/.test(response.headers.get("content-type") ?? "") };
  };

  const describeRequest = (r: HostileRequest) => {
    const body = typeof r.body === "string" ? r.body : Buffer.from(r.body).toString("latin1");
    return `${r.target} [${r.contentType}] ${body.length} chars: ${body.slice(0, 160)} | ?${r.search.slice(0, 100)}`;
  };

  /** The property: below 500, every JSON error with a code, and `{ __typename }` answers after it. */
  const check = async (res: Answer, what: string) => {
    expect(res.status, what).toBeLessThan(500);
    expect(res.status, what).toBeGreaterThanOrEqual(200);
    if (res.json) {
      const answer = JSON.parse(res.text) as {
        errors?: Array<{ extensions?: { code?: unknown } }>;
        error?: { reason?: unknown };
      };
      for (const error of answer.errors ?? []) expect(typeof error.extensions?.code, what).toBe("string");
      if (answer.error) expect(typeof answer.error.reason, what).toBe("string");
    }
    const next = await app.current.gql("{ __typename }");
    expect(next.data, what).toEqual({ __typename: "Query" });
  };

  it("answers every request below 500, every JSON error with a code, and keeps serving", async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const res = await send(r);
        await check(res, `${describeRequest(r)} -> ${res.status} ${res.text.slice(0, 300)}`);
      }),
      // `timeout`: a run that has not answered in 10 s fails (a hang guard on a busy machine).
      { numRuns: RUNS, timeout: 10_000 },
    );
  });

  it("answers well-formed JSON requests with hostile documents and variables the same way", async () => {
    const wellFormed = fc.record({
      query: smallDocument,
      variables: variablesObject,
      extensions: fc.oneof(fc.constant("{}"), variablesObject),
      signedIn: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(wellFormed, async (r) => {
        const body = `{"query":${JSON.stringify(r.query)},"variables":${r.variables},"extensions":${r.extensions}}`;
        const response = await app.current.yoga.fetch("http://localhost/graphql", {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(r.signedIn ? { authorization: `Bearer ${user.token}` } : {}),
          },
          body,
        });
        const text = await response.text();
        const res = { status: response.status, text, json: true };
        await check(res, `${body.length} chars: ${body.slice(0, 300)} -> ${res.status} ${text.slice(0, 300)}`);
      }),
      { numRuns: WELL_FORMED_RUNS, timeout: 10_000 },
    );
  });
});
