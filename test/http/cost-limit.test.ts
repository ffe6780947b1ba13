import { type GraphQLField, getNullableType, isListType, isObjectType, parse } from "graphql";
import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../../src/graphql/builder.js";
import { schema } from "../../src/graphql/schema/index.js";
import { LIST_BOUNDS, listSize, operationCost } from "../../src/http/plugins/cost-limit.js";
import { useTestApp } from "../helpers/app.js";

/**
 * MAX_COST holds however a page size arrives: literal, variable, variable default, absent, inside a
 * fragment. The issue that led here: `invites(first: $n)` with {"n": 1000} was counted as one item.
 */

const options = { maxRepresentations: 100 };

/** Every field of every object type that returns a list or takes a page size. */
function listFields(): Array<{ type: string; field: GraphQLField<unknown, unknown> }> {
  const found: Array<{ type: string; field: GraphQLField<unknown, unknown> }> = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith("__")) continue;
    for (const field of Object.values(type.getFields())) {
      const paged = field.args.some((a) => a.name === "first");
      if (paged || isListType(getNullableType(field.type))) found.push({ type: type.name, field });
    }
  }
  return found;
}

describe("the cost of every list field is bounded", () => {
  const fields = listFields();

  it("finds the lists the schema has", () => {
    const names = fields.map((f) => `${f.type}.${f.field.name}`);
    expect(names).toEqual(
      expect.arrayContaining([
        "Organization.members",
        "Organization.invites",
        "Organization.linkInvites",
        "Organization.auditLog",
        "User.organizations",
        "User.pendingInvites",
        "Query._entities",
      ]),
    );
  });

  it.each(listFields().map((f) => [`${f.type}.${f.field.name}`, f] as const))(
    "%s: a declared bound, the same for every form of its page size",
    (_name, { type, field }) => {
      const paged = field.args.some((a) => a.name === "first");
      if (!paged && field.name !== "_entities") {
        // Not paged: a fixed bound, declared (never the fail-closed fallback) and enforced where read.
        expect(LIST_BOUNDS[`${type}.${field.name}`], `${type}.${field.name} needs a bound in LIST_BOUNDS`).toBeTypeOf(
          "number",
        );
      }
      const sizes = [{}, { first: null }, { first: 0 }, { first: 1000 }, { first: 5000 }, { first: -1 }].map((args) =>
        listSize(type, field, args, options),
      );
      for (const size of sizes) {
        expect(Number.isFinite(size)).toBe(true);
        expect(size).toBeGreaterThanOrEqual(0);
        expect(size).toBeLessThanOrEqual(MAX_PAGE_SIZE);
      }
      if (paged) expect(sizes).toEqual([DEFAULT_PAGE_SIZE, DEFAULT_PAGE_SIZE, 0, 1000, MAX_PAGE_SIZE, 0]);
    },
  );

  it("the unpaged lists that read the database are bounded by what their resolvers take", () => {
    expect(LIST_BOUNDS["User.organizations"]).toBe(100);
    expect(LIST_BOUNDS["User.pendingInvites"]).toBe(100);
  });
});

describe("operationCost: the value the request will use", () => {
  const selection = "edges { node { id email role invitedBy { id email displayName } } }";
  const cost = (query: string, variables: Record<string, unknown> = {}) =>
    operationCost({ schema, document: parse(query), variableValues: variables }, options);

  it("counts a variable page size as its literal twin", () => {
    const literal = cost(`{ organization(id: "o") { invites(first: 1000) { ${selection} } } }`);
    const variable = cost(`query($n: Int) { organization(id: "o") { invites(first: $n) { ${selection} } } }`, {
      n: 1000,
    });
    const defaulted = cost(`query($n: Int = 1000) { organization(id: "o") { invites(first: $n) { ${selection} } } }`);
    const inFragment = cost(
      `query($n: Int) { organization(id: "o") { ...F } } fragment F on Organization { invites(first: $n) { ${selection} } }`,
      { n: 1000 },
    );
    expect(literal).toBeGreaterThan(10_000);
    expect([variable, defaulted, inFragment]).toEqual([literal, literal, literal]);
  });

  it("counts an absent or null page size as the default page, not as one item", () => {
    const absent = cost(`{ organization(id: "o") { invites { ${selection} } } }`);
    const nullVariable = cost(`query($n: Int) { organization(id: "o") { invites(first: $n) { ${selection} } } }`, {
      n: null,
    });
    const missingVariable = cost(`query($n: Int) { organization(id: "o") { invites(first: $n) { ${selection} } } }`);
    const hundred = cost(`{ organization(id: "o") { invites(first: 100) { ${selection} } } }`);
    expect([absent, nullVariable, missingVariable]).toEqual([hundred, hundred, hundred]);
  });

  it("multiplies nested pages, and counts _entities by its representations", () => {
    const one = cost(`{ organization(id: "o") { members(first: 10) { edges { node { role } } } } }`) as number;
    const nested = cost(
      `{ viewer { organizations { organization { members(first: 10) { edges { node { role } } } } } } }`,
    ) as number;
    expect(nested).toBeGreaterThan(100 * one * 0.9);
    const reps = (n: number) => Array.from({ length: n }, (_, i) => ({ __typename: "Organization", id: `o${i}` }));
    const entities = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Organization { id title } } }";
    expect(cost(entities, { r: reps(50) })).toBe(50 * (cost(entities, { r: reps(1) }) as number));
  });

  it("counts @include and @skip as they will execute", () => {
    const query = `query($n: Int, $on: Boolean!) { organization(id: "o") { invites(first: $n) @include(if: $on) { ${selection} } } }`;
    expect(cost(query, { n: 1000, on: false })).toBeLessThan(10);
    expect(cost(query, { n: 1000, on: true })).toBeGreaterThan(10_000);
  });
});

describe("MAX_COST over HTTP", () => {
  const app = useTestApp("pglite");
  const aliases = (first: string) =>
    Array.from(
      { length: 30 },
      (_, i) =>
        `a${i}: invites(first: ${first}) { edges { node { id email role invitedBy { id email displayName } } } }`,
    ).join(" ");

  it("refuses 30 aliased 1000-item pages whether the size is a literal or a variable", async () => {
    const org = await app.current.seed.org();
    const literal = await app.current.gql(`query($o: ID!) { organization(id: $o) { ${aliases("1000")} } }`, {
      token: org.owner.token,
      variables: { o: org.id },
    });
    const variable = await app.current.gql(`query($o: ID!, $n: Int) { organization(id: $o) { ${aliases("$n")} } }`, {
      token: org.owner.token,
      variables: { o: org.id, n: 1000 },
    });
    const viaDefault = await app.current.gql(
      `query($o: ID!, $n: Int = 1000) { organization(id: $o) { ${aliases("$n")} } }`,
      { token: org.owner.token, variables: { o: org.id } },
    );
    for (const res of [literal, variable, viaDefault]) {
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(res.errors?.[0]?.message).toMatch(/cost limit of 50000 exceeded/);
    }
    // A small page of the same shape runs.
    const small = await app.current.gql(`query($o: ID!, $n: Int) { organization(id: $o) { ${aliases("$n")} } }`, {
      token: org.owner.token,
      variables: { o: org.id, n: 5 },
    });
    expect(small.errors).toBeUndefined();
    // The same document again (costs are remembered per document and per variable value).
    const again = await app.current.gql(`query($o: ID!, $n: Int) { organization(id: $o) { ${aliases("$n")} } }`, {
      token: org.owner.token,
      variables: { o: org.id, n: 1000 },
    });
    expect(again.errors?.[0]?.message).toMatch(/cost limit of 50000 exceeded/);
  });

  it("a null for a non-null argument does not switch MAX_COST off, neither then nor for later requests", async () => {
    const org = await app.current.seed.org();
    const doc = `query Q($x: ID = "unused", $o: ID!) { probe: organization(id: $x) { id }
      organization(id: $o) { members(first: 1000) { edges { node { user { organizations {
      organization { members(first: 1000) { totalCount } } } } } } } } }`;
    // First the request that made the cost uncountable, then the same document as usual.
    for (const variables of [{ o: org.id, x: null }, { o: org.id }]) {
      const res = await app.current.gql(doc, { token: org.owner.token, variables });
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
      expect(res.errors?.[0]?.message).toMatch(/cost/);
    }
    const include = `query($v: Boolean = true, $o: ID!) { organization(id: $o) { title
      members(first: 1000) @include(if: $v) { edges { node { user { organizations {
      organization { members(first: 1000) { totalCount } } } } } } } } }`;
    const res = await app.current.gql(include, { token: org.owner.token, variables: { o: org.id, v: null } });
    expect(res.data?.organization?.members ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("refuses two nested 1000-item pages within the depth limit", async () => {
    const user = await app.current.seed.user();
    const res = await app.current.gql(
      `query($n: Int) { viewer { organizations { organization { members(first: $n) { edges { node {
        user { organizations { organization { members(first: $n) { totalCount } } } } } } } } } } }`,
      { token: user.token, variables: { n: 1000 } },
    );
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.message).toMatch(/cost/);
  });

  it("refuses a subscription whose selection costs too much", async () => {
    const org = await app.current.seed.org();
    const fields = Array.from(
      { length: 30 },
      (_, i) => `a${i}: actor { organizations { organization { members { totalCount } } } }`,
    );
    const response = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        authorization: `Bearer ${org.owner.token}`,
      },
      body: JSON.stringify({
        query: `subscription($o: ID!) { organizationEvents(organizationId: $o) { ${fields.join(" ")} } }`,
        variables: { o: org.id },
      }),
    });
    // A refusal is the stream's first event; a stream that was not refused stays open with none.
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    const timer = new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000));
    while (!/cost limit/.test(text)) {
      const chunk = await Promise.race([reader.read(), timer]);
      if (!chunk || chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    await reader.cancel();
    expect(text).toMatch(/cost limit/);
    expect(text).toMatch(/BAD_USER_INPUT/);
  });
});
