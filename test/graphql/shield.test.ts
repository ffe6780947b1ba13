/**
 * graphql-shield pitfalls. Each test fails if the service (or shield's configuration) falls into one:
 * (a) the `contextual` cache reused for argument-dependent rules, (b) rules on interfaces (ignored by
 * shield), (c) resolver errors swallowed into denials (allowExternalErrors), (d) fields without a
 * rule allowed (fallbackRule).
 */
import { useGraphQLMiddleware } from "@envelop/graphql-middleware";
import { MapperKind, mapSchema } from "@graphql-tools/utils";
import {
  extendSchema,
  GraphQLError,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  getNamedType,
  isInterfaceType,
  isIntrospectionType,
  isObjectType,
  isUnionType,
  parse,
} from "graphql";
import type { IRules } from "graphql-shield";
import { allow, deny, shield } from "graphql-shield";
import { createSchema, createYoga } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { applyPermissions, permissions, ruleOf, ruleTree } from "../../src/graphql/permissions.js";
import { schema } from "../../src/graphql/schema/index.js";
import type { GqlResponse } from "../helpers/app.js";
import { useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const show = (res: unknown) => JSON.stringify(res, null, 1);
const codes = (res: GqlResponse) => (res.errors ?? []).map((e) => ({ code: e.extensions?.code, path: e.path }));

// --- a tiny standalone service: the pitfalls themselves, independent of our schema ---------------

const forbidden = () => new GraphQLError("You are not allowed to do this", { extensions: { code: "FORBIDDEN" } });

const standaloneTypeDefs = /* GraphQL */ `
  interface Secretive {
    id: ID!
    secret: String
  }
  type Vault implements Secretive {
    id: ID!
    secret: String
  }
  type Query {
    vault: Vault
    secretive: Secretive
    "throws a GraphQLError with its own code (bad input)"
    bad: String
    "crashes with a plain Error whose message must never reach a client"
    boom: String
    "has no rule in some trees"
    unruled: String
    fine: String
  }
`;

const standaloneResolvers = {
  Query: {
    vault: () => ({ id: "v1", secret: "the-secret" }),
    secretive: () => ({ id: "v1", secret: "the-secret" }),
    bad: () => {
      throw new GraphQLError("first must be between 0 and 1000", { extensions: { code: "BAD_USER_INPUT" } });
    },
    boom: () => {
      throw new Error("connect ECONNREFUSED postgres://admin:hunter2@db");
    },
    unruled: () => "leaked",
    fine: () => "fine",
  },
  Secretive: { __resolveType: () => "Vault" },
};

type ShieldOptions = NonNullable<Parameters<typeof shield>[1]>;

function standalone(rules: IRules, options: Partial<ShieldOptions>, base?: GraphQLSchema) {
  const yoga = createYoga({
    schema: base ?? createSchema({ typeDefs: standaloneTypeDefs, resolvers: standaloneResolvers }),
    plugins: [useGraphQLMiddleware([shield(rules, options as ShieldOptions)])],
    maskedErrors: true,
    logging: false,
  });
  return async (query: string): Promise<GqlResponse> => {
    const response = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as Pick<GqlResponse, "data" | "errors">;
    return { status: response.status, data: body.data, errors: body.errors };
  };
}

describe("(b) rules sit on object types only", () => {
  const typeMap = schema.getTypeMap();
  const entries = Object.entries(ruleTree as Record<string, unknown>);
  const isFieldMap = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;

  it("no key of ruleTree names an interface or a union (shield would silently ignore it)", () => {
    const abstract = entries
      .map(([name]) => typeMap[name])
      .filter((type) => type && (isInterfaceType(type) || isUnionType(type)))
      .map((type) => type?.name);
    expect(abstract).toEqual([]);
  });

  it("every key of ruleTree is an object type of the schema and every field key a field of it", () => {
    const problems: string[] = [];
    for (const [name, rules] of entries) {
      const type = typeMap[name];
      if (!type || !isObjectType(type)) {
        problems.push(`${name}: not an object type of the schema`);
        continue;
      }
      if (isFieldMap(rules)) {
        for (const field of Object.keys(rules))
          if (!type.getFields()[field]) problems.push(`${name}.${field}: no such field`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("every object type has an entry, and every field of a per-field entry has a rule (nothing new is silently denied or allowed)", () => {
    const problems: string[] = [];
    for (const type of Object.values(typeMap)) {
      if (!isObjectType(type) || isIntrospectionType(type)) continue;
      const rules = (ruleTree as Record<string, unknown>)[type.name];
      if (rules === undefined) {
        problems.push(`${type.name}: no entry`);
        continue;
      }
      if (isFieldMap(rules)) {
        for (const field of Object.keys(type.getFields())) {
          if (rules[field] === undefined) problems.push(`${type.name}.${field}: no rule`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("(pitfall) a deny rule on an interface's field does NOT deny the implementing object's field", async () => {
    const onInterface = standalone(
      { Query: allow, Secretive: { secret: deny } },
      { fallbackRule: allow, fallbackError: forbidden },
    );
    // Through the object type and through the interface alike, the secret leaks.
    expect(await onInterface("{ vault { secret } }")).toEqual({
      status: 200,
      data: { vault: { secret: "the-secret" } },
      errors: undefined,
    });
    expect(await onInterface("{ secretive { secret } }")).toEqual({
      status: 200,
      data: { secretive: { secret: "the-secret" } },
      errors: undefined,
    });
    // Control: the same rule on the object type denies it, through the interface too.
    const onObject = standalone(
      { Query: allow, Vault: { secret: deny } },
      { fallbackRule: allow, fallbackError: forbidden },
    );
    for (const query of ["{ vault { secret } }", "{ secretive { secret } }"]) {
      const res = await onObject(query);
      expect(
        res.errors?.map((e) => e.extensions?.code),
        show(res),
      ).toEqual(["FORBIDDEN"]);
      expect(JSON.stringify(res.data)).not.toContain("the-secret");
    }
  });
});

describe("(c) allowExternalErrors: resolver errors are not turned into denials", () => {
  it("(standalone) true: a GraphQLError keeps its code, a crash is masked by Yoga as 'Unexpected error.'", async () => {
    const run = standalone(
      { Query: allow },
      { fallbackRule: deny, fallbackError: forbidden, allowExternalErrors: true },
    );
    const bad = await run("{ bad fine }");
    expect(bad.data).toEqual({ bad: null, fine: "fine" });
    expect(bad.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([
      ["first must be between 0 and 1000", "BAD_USER_INPUT"],
    ]);
    const boom = await run("{ boom }");
    expect(boom.errors?.map((e) => e.message)).toEqual(["Unexpected error."]);
    expect(show(boom)).not.toContain("hunter2");
    expect(boom.errors?.[0]?.extensions?.code).toBe("INTERNAL_SERVER_ERROR");
  });

  it("(standalone) false (the pitfall): both become the fallback denial, hiding bad input and crashes", async () => {
    const run = standalone(
      { Query: allow },
      { fallbackRule: deny, fallbackError: forbidden, allowExternalErrors: false },
    );
    expect(codes(await run("{ bad }"))).toEqual([{ code: "FORBIDDEN", path: ["bad"] }]);
    expect(codes(await run("{ boom }"))).toEqual([{ code: "FORBIDDEN", path: ["boom"] }]);
    // And with shield's default fallbackError the client gets "Not Authorised!", or, masked by
    // Yoga (a plain Error), "Unexpected error.", for what was bad input.
    const defaults = standalone({ Query: allow }, { fallbackRule: deny, allowExternalErrors: false });
    const res = await defaults("{ bad }");
    expect(res.errors?.map((e) => e.message)[0]).toMatch(/^(Not Authorised!|Unexpected error\.)$/);
  });
});

describe("(d) fallbackRule deny: a field without a rule is denied", () => {
  it("(standalone) with fallbackRule deny, an unruled field is FORBIDDEN; with allow it would leak", async () => {
    const closed = standalone(
      { Query: { fine: allow } },
      { fallbackRule: deny, fallbackError: forbidden, allowExternalErrors: true },
    );
    const res = await closed("{ fine unruled }");
    expect(res.data).toEqual({ fine: "fine", unruled: null });
    expect(codes(res)).toEqual([{ code: "FORBIDDEN", path: ["unruled"] }]);
    const open = standalone({ Query: { fine: allow } }, { fallbackRule: allow });
    expect((await open("{ unruled }")).data).toEqual({ unruled: "leaked" });
  });

  it("(standalone) shield's default fallbackError is a plain Error: masked by Yoga as 'Unexpected error.'", async () => {
    const run = standalone({ Query: { fine: allow } }, { fallbackRule: deny });
    const res = await run("{ unruled }");
    expect(res.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([
      ["Unexpected error.", "INTERNAL_SERVER_ERROR"],
    ]);
  });

  it("the service's own shield denies a field added to the schema without a rule, with FORBIDDEN", async () => {
    const extended = extendSchema(schema, parse("extend type Query { unruled: String }"));
    const unruled = extended.getQueryType()?.getFields().unruled;
    if (!unruled) throw new Error("extension failed");
    unruled.resolve = () => "leaked";
    const yoga = createYoga({
      schema: extended,
      plugins: [useGraphQLMiddleware([permissions])],
      maskedErrors: true,
      logging: false,
      // Shield is applied; the unruled field needs no context (its rule is the fallback).
      context: () => ({ viewer: null }),
    });
    const response = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ unruled }" }),
    });
    const body = (await response.json()) as GqlResponse;
    expect(body.data, show(body)).toEqual({ unruled: null });
    expect(body.errors?.map((e) => [e.extensions?.code, e.path])).toEqual([["FORBIDDEN", ["unruled"]]]);
    expect(body.errors?.[0]?.message).not.toMatch(/^(Unexpected error\.|Not Authorised!)$/);
  });

  it("applyPermissions (what the service runs) unwraps only `allow` fields: unruled and guarded fields stay wrapped", async () => {
    const extended = extendSchema(schema, parse("extend type Query { unruled: String }"));
    const unruled = extended.getQueryType()?.getFields().unruled;
    if (!unruled) throw new Error("extension failed");
    unruled.resolve = () => "leaked";
    const shielded = applyPermissions(extended);
    const own = (type: string, field: string) =>
      (extended.getType(type) as GraphQLObjectType).getFields()[field]?.resolve;
    const served = (type: string, field: string) =>
      (shielded.getType(type) as GraphQLObjectType).getFields()[field]?.resolve;
    // allow: the field's own resolver (or none: the default resolver), as before shield.
    for (const [type, field] of [
      ["Query", "viewer"],
      ["Invite", "id"],
      ["InviteEdge", "node"],
      ["PageInfo", "hasNextPage"],
    ]) {
      expect(served(type as string, field as string), `${type}.${field}`).toBe(own(type as string, field as string));
    }
    // a rule, or no rule at all (the fallback denies): wrapped by shield.
    for (const [type, field] of [
      ["Query", "unruled"],
      ["Query", "organization"],
      ["Invite", "email"],
      ["Organization", "title"],
    ]) {
      expect(served(type as string, field as string), `${type}.${field}`).toBeTypeOf("function");
      expect(served(type as string, field as string), `${type}.${field}`).not.toBe(
        own(type as string, field as string),
      );
    }
    const yoga = createYoga({
      schema: shielded,
      maskedErrors: true,
      logging: false,
      context: () => ({ viewer: null }),
    });
    const response = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ unruled }" }),
    });
    const body = (await response.json()) as GqlResponse;
    expect(body.errors?.map((e) => [e.extensions?.code, e.path])).toEqual([["FORBIDDEN", ["unruled"]]]);
  });
});

describe.each(DB_KINDS)("shield on the service (%s)", (kind) => {
  const app = useTestApp(kind);

  describe("(a) argument-dependent rules are not cached across aliases", () => {
    const twoOrgs = `query($first: ID!, $second: ID!) { a: organization(id: $first) { id } b: organization(id: $second) { id } }`;

    it("a member of only the first organization: a is data, b is FORBIDDEN; and in reverse order", async () => {
      const mine = await app.current.seed.org(undefined, "Mine");
      const other = await app.current.seed.org(undefined, "Other");
      const user = await app.current.seed.user("one-org");
      await app.current.seed.member(mine.id, user, "READ");

      const forward = await app.current.gql(twoOrgs, {
        variables: { first: mine.id, second: other.id },
        token: user.token,
      });
      expect(forward.data, show(forward)).toEqual({ a: { id: mine.id }, b: null });
      expect(codes(forward)).toEqual([{ code: "FORBIDDEN", path: ["b"] }]);

      const reverse = await app.current.gql(twoOrgs, {
        variables: { first: other.id, second: mine.id },
        token: user.token,
      });
      expect(reverse.data, show(reverse)).toEqual({ a: null, b: { id: mine.id } });
      expect(codes(reverse)).toEqual([{ code: "FORBIDDEN", path: ["a"] }]);
    });

    it("an admin-only nested field (parent-dependent rule): admin of a, READ in b", async () => {
      const user = await app.current.seed.user("admin-of-one");
      const mine = await app.current.seed.org(user, "Admin here");
      const other = await app.current.seed.org(undefined, "Reader here");
      await app.current.seed.member(other.id, user, "READ");
      const query = `query($first: ID!, $second: ID!) {
        a: organization(id: $first) { id invites { totalCount } }
        b: organization(id: $second) { id invites { totalCount } }
      }`;
      const forward = await app.current.gql(query, {
        variables: { first: mine.id, second: other.id },
        token: user.token,
      });
      expect(forward.data, show(forward)).toEqual({ a: { id: mine.id, invites: { totalCount: 0 } }, b: null });
      expect(codes(forward)).toEqual([{ code: "FORBIDDEN", path: ["b", "invites"] }]);
      const reverse = await app.current.gql(query, {
        variables: { first: other.id, second: mine.id },
        token: user.token,
      });
      expect(reverse.data, show(reverse)).toEqual({ a: null, b: { id: mine.id, invites: { totalCount: 0 } } });
      expect(codes(reverse)).toEqual([{ code: "FORBIDDEN", path: ["a", "invites"] }]);
    });

    it("two aliases of an admin-only mutation: admin of the first organization only", async () => {
      const user = await app.current.seed.user("mutating");
      const mine = await app.current.seed.org(user, "Admin here");
      const other = await app.current.seed.org(undefined, "Not admin here");
      await app.current.seed.member(other.id, user, "EDIT");
      const res = await app.current.gql(
        `mutation($first: ID!, $second: ID!) {
          a: createLinkInvite(organizationId: $first, input: { role: READ }) { __typename }
          b: createLinkInvite(organizationId: $second, input: { role: READ }) { __typename }
        }`,
        { variables: { first: mine.id, second: other.id }, token: user.token },
      );
      // b's result is non-null, so its denial nulls `data`; a ran first (mutations are serial).
      expect(codes(res), show(res)).toEqual([{ code: "FORBIDDEN", path: ["b"] }]);
      expect(res.data).toBeNull();
      expect(await app.current.db.linkInvite.count({ where: { organizationId: mine.id } })).toBe(1);
      expect(await app.current.db.linkInvite.count({ where: { organizationId: other.id } })).toBe(0);
    });
  });

  describe("(c) resolver errors keep their code through shield", () => {
    it.each([5000, -1])("invites(first: %i) as an admin is BAD_USER_INPUT, not FORBIDDEN", async (first) => {
      const admin = await app.current.seed.user("paging-admin");
      const org = await app.current.seed.org(admin);
      const res = await app.current.gql(
        "query($id: ID!, $first: Int) { organization(id: $id) { invites(first: $first) { totalCount } } }",
        { variables: { id: org.id, first }, token: admin.token },
      );
      expect(
        res.errors?.map((e) => e.extensions?.code),
        show(res),
      ).toEqual(["BAD_USER_INPUT"]);
      expect(res.errors?.[0]?.message).toMatch(/first/);
      expect(res.errors?.[0]?.message).not.toMatch(/^(Unexpected error\.|Not Authorised!)$/);
      expect(res.data?.organization ?? null).toBeNull();
    });
  });
});

// --- the whole schema, walked -----------------------------------------------------------------

/**
 * Every field a client can reach, from the root types and `_entities` (the gateway's door), through
 * unions and interfaces: on the schema the service serves (applyPermissions), each field either keeps
 * its own resolver because its rule is `allow`, or carries the rule that decides it. Then each field's
 * resolver is replaced by a sentinel and the guarded schema is asked for every field as an anonymous
 * caller and as a signed-in stranger (ctx.access knows them nowhere): a field added without a rule,
 * or a rule that lets strangers through, shows up here.
 */
describe("every reachable field is decided by a rule", () => {
  const RULE = "invites-gateway.rule";
  const REACHED = "reached the resolver";

  function reachableFields(target: GraphQLSchema): Array<[GraphQLObjectType, string]> {
    const seen = new Set<string>();
    const fields: Array<[GraphQLObjectType, string]> = [];
    const roots = [target.getQueryType(), target.getMutationType(), target.getSubscriptionType()];
    const entity = target.getType("_Entity");
    const queue: GraphQLNamedType[] = [
      ...roots.filter((t): t is GraphQLObjectType => t != null),
      ...(entity ? [entity] : []),
    ];
    while (queue.length > 0) {
      const type = queue.shift() as GraphQLNamedType;
      if (seen.has(type.name) || isIntrospectionType(type)) continue;
      seen.add(type.name);
      if (isUnionType(type)) queue.push(...type.getTypes());
      if (isInterfaceType(type)) queue.push(...target.getPossibleTypes(type));
      if (!isObjectType(type) && !isInterfaceType(type)) continue;
      for (const field of Object.values(type.getFields())) {
        if (isObjectType(type)) fields.push([type, field.name]);
        queue.push(getNamedType(field.type));
      }
    }
    return fields;
  }

  it("reaches every field of every object type, and each is `allow` (own resolver) or carries its rule", () => {
    const served = applyPermissions(schema);
    const fields = reachableFields(served);
    const all = Object.values(served.getTypeMap())
      .filter((type) => isObjectType(type) && !isIntrospectionType(type))
      .flatMap((type) => Object.keys((type as GraphQLObjectType).getFields()));
    expect(fields.length).toBe(all.length);
    const problems: string[] = [];
    for (const [type, name] of fields) {
      const field = type.getFields()[name] as GraphQLField<unknown, unknown>;
      const own = (schema.getType(type.name) as GraphQLObjectType).getFields()[name];
      const rule = ruleOf(type.name, name);
      if (rule === (allow as unknown)) {
        if (field.resolve !== own?.resolve) problems.push(`${type.name}.${name}: allow, but not its own resolver`);
      } else if (typeof field.extensions?.[RULE] !== "string" || field.resolve === own?.resolve) {
        problems.push(`${type.name}.${name}: guarded by no rule`);
      }
    }
    expect(problems).toEqual([]);
  });

  /** `allow` in the table itself, for the type or the field (never by a fallback). */
  const explicitlyAllowed = (type: string, field: string) => {
    const rules = (ruleTree as Record<string, unknown>)[type];
    return (
      rules === allow ||
      (typeof rules === "object" && rules !== null && (rules as Record<string, unknown>)[field] === allow)
    );
  };

  it("anonymous callers and signed-in strangers reach no resolver but the allowed ones", async () => {
    const extended = extendSchema(schema, parse("extend type Query { addedWithoutRule: String }"));
    const sentinel = mapSchema(extended, {
      [MapperKind.OBJECT_FIELD]: (field) => ({ ...field, resolve: () => REACHED }),
    });
    const served = applyPermissions(sentinel);
    const nowhere = {
      roleIn: () => null,
      organization: () => null,
      canSeeOrganization: () => false,
      canSeeUserProfile: () => false,
      canSeeUserEmail: () => false,
      canSeeUser: () => false,
    };
    const reached = async (viewer: object | null) => {
      const through: string[] = [];
      for (const [type, name] of reachableFields(served)) {
        if (explicitlyAllowed(type.name, name)) continue;
        const field = type.getFields()[name] as GraphQLField<unknown, unknown>;
        const ctx = { viewer, access: nowhere, config: { limits: { entityRepresentations: 50 } } };
        const info = { schema: served, fieldName: name, parentType: type } as unknown as GraphQLResolveInfo;
        const answer = await field.resolve?.({ id: "someone-else", organizationId: "o", userId: "u" }, {}, ctx, info);
        if (answer === REACHED) through.push(`${type.name}.${name}`);
        else
          expect(["UNAUTHENTICATED", "FORBIDDEN"], `${type.name}.${name}`).toContain(
            (answer as GraphQLError).extensions?.code,
          );
      }
      return through.sort();
    };
    // `_entities` checks its representations (an empty list passes); each entity is then decided by
    // the rules of its type (resolveReference answers null for what the viewer may not see).
    expect(await reached(null)).toEqual(["Query._entities"]);
    expect(await reached({ id: "stranger" })).toEqual([
      "Mutation.createOrganization",
      "Mutation.joinOrganizationByDomain",
      "Mutation.joinOrganizationWithInvite",
      "Query._entities",
    ]);
  });
});
