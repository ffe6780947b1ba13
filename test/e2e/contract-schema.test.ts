import { readFileSync } from "node:fs";
import {
  astFromValue,
  buildSchema,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isSpecifiedScalarType,
  isUnionType,
  print,
} from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../../src/graphql/schema/index.js";

/**
 * The served schema against the contract's names and nullability (test/fixtures/contract.graphql,
 * copied from /work/shared/CONTRACT.md). Additions are allowed: extra types, fields, optional
 * arguments, optional input fields and enum values. Renames, removals, type or nullability changes,
 * changed defaults, reordered enums and new required arguments are not.
 */
const fixtureSdl = readFileSync(new URL("../fixtures/contract.graphql", import.meta.url), "utf8");
const contract: GraphQLSchema = buildSchema(fixtureSdl);

const contractTypes = Object.values(contract.getTypeMap()).filter(
  (t) => !t.name.startsWith("__") && !(isScalarType(t) && isSpecifiedScalarType(t)),
);

function kindOf(type: GraphQLNamedType): string {
  if (isObjectType(type)) return "object";
  if (isInterfaceType(type)) return "interface";
  if (isUnionType(type)) return "union";
  if (isEnumType(type)) return "enum";
  if (isInputObjectType(type)) return "input";
  return "scalar";
}

function printDefault(holder: GraphQLArgument | GraphQLInputField): string | undefined {
  if (holder.defaultValue === undefined) return undefined;
  const ast = astFromValue(holder.defaultValue, holder.type as GraphQLInputType);
  return ast ? print(ast) : String(holder.defaultValue);
}

/** Optional for a client: nullable, or non-null with a default value. */
function isOptional(holder: GraphQLArgument | GraphQLInputField): boolean {
  return !isNonNullType(holder.type) || holder.defaultValue !== undefined;
}

function compareArgs(where: string, expected: readonly GraphQLArgument[], actual: readonly GraphQLArgument[]) {
  const problems: string[] = [];
  const byName = new Map(actual.map((a) => [a.name, a]));
  for (const arg of expected) {
    const ours = byName.get(arg.name);
    if (!ours) {
      problems.push(`${where}(${arg.name}:) is missing`);
      continue;
    }
    if (String(ours.type) !== String(arg.type))
      problems.push(`${where}(${arg.name}:) is ${ours.type}, contract says ${arg.type}`);
    const want = printDefault(arg);
    if (want !== undefined && printDefault(ours) !== want)
      problems.push(`${where}(${arg.name}:) defaults to ${printDefault(ours)}, contract says ${want}`);
  }
  const declared = new Set(expected.map((a) => a.name));
  for (const ours of actual) {
    if (!declared.has(ours.name) && !isOptional(ours))
      problems.push(`${where}(${ours.name}: ${ours.type}) is an extra required argument`);
  }
  return problems;
}

function compareFields(
  typeName: string,
  expected: Record<string, GraphQLField<unknown, unknown>>,
  actual: Record<string, GraphQLField<unknown, unknown>>,
): string[] {
  const problems: string[] = [];
  for (const field of Object.values(expected)) {
    const where = `${typeName}.${field.name}`;
    const ours = actual[field.name];
    if (!ours) {
      problems.push(`${where} is missing`);
      continue;
    }
    if (String(ours.type) !== String(field.type))
      problems.push(`${where} is ${ours.type}, contract says ${field.type}`);
    problems.push(...compareArgs(where, field.args, ours.args));
  }
  return problems;
}

function compareType(expected: GraphQLNamedType, served: GraphQLSchema = schema): string[] {
  const actual = served.getType(expected.name);
  if (!actual) return [`type ${expected.name} is missing`];
  if (kindOf(actual) !== kindOf(expected))
    return [`${expected.name} is a ${kindOf(actual)}, contract says ${kindOf(expected)}`];

  if ((isObjectType(expected) || isInterfaceType(expected)) && (isObjectType(actual) || isInterfaceType(actual))) {
    const problems = compareFields(expected.name, expected.getFields(), actual.getFields());
    const ourInterfaces = new Set(actual.getInterfaces().map((i) => i.name));
    for (const iface of expected.getInterfaces()) {
      if (!ourInterfaces.has(iface.name)) problems.push(`${expected.name} does not implement ${iface.name}`);
    }
    return problems;
  }

  if (isInputObjectType(expected) && isInputObjectType(actual)) {
    const problems: string[] = [];
    const ours = actual.getFields();
    for (const field of Object.values(expected.getFields())) {
      const where = `${expected.name}.${field.name}`;
      const mine = ours[field.name];
      if (!mine) {
        problems.push(`${where} is missing`);
        continue;
      }
      if (String(mine.type) !== String(field.type))
        problems.push(`${where} is ${mine.type}, contract says ${field.type}`);
      const want = printDefault(field);
      if (want !== undefined && printDefault(mine) !== want)
        problems.push(`${where} defaults to ${printDefault(mine)}, contract says ${want}`);
    }
    const declared = new Set(Object.keys(expected.getFields()));
    for (const mine of Object.values(ours)) {
      if (!declared.has(mine.name) && !isOptional(mine))
        problems.push(`${expected.name}.${mine.name}: ${mine.type} is an extra required input field`);
    }
    return problems;
  }

  if (isEnumType(expected) && isEnumType(actual)) {
    const want = expected.getValues().map((v) => v.name);
    const ours = actual.getValues().map((v) => v.name);
    const missing = want.filter((v) => !ours.includes(v));
    if (missing.length) return [`${expected.name} lacks ${missing.join(", ")}`];
    const inOurOrder = ours.filter((v) => want.includes(v));
    return inOurOrder.join(" ") === want.join(" ")
      ? []
      : [`${expected.name} is ordered ${inOurOrder.join(" ")}, contract says ${want.join(" ")}`];
  }

  if (isUnionType(expected) && isUnionType(actual)) {
    const problems: string[] = [];
    const ours = actual.getTypes().map((t) => t.name);
    const declared = new Set(expected.getTypes().map((t) => t.name));
    for (const name of declared) if (!ours.includes(name)) problems.push(`${expected.name} lacks ${name}`);
    const errorInterface = served.getType("Error");
    for (const member of actual.getTypes()) {
      if (declared.has(member.name)) continue;
      const isError = isInterfaceType(errorInterface) && served.isSubType(errorInterface, member);
      if (!isError) problems.push(`${expected.name} has ${member.name}, which does not implement Error`);
    }
    return problems;
  }

  return []; // a custom scalar: its name is all there is to compare
}

describe("the served schema against the contract", () => {
  it("the fixture holds the whole in-scope contract", () => {
    // Guards the fixture itself: a type dropped from it would silently stop being checked.
    const names = contractTypes.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "DateTime",
        "MemberRole",
        "InviteStatus",
        "LinkInviteStatus",
        "LinkInviteTargetKind",
        "ErrorCode",
        "Error",
        "Query",
        "Mutation",
        "LinkInvitePreview",
        "User",
        "Organization",
        "Member",
        "Invite",
        "LinkInvite",
        "PageInfo",
        "CreateOrganizationInput",
        "InviteeInput",
        "InviteUsersToOrganizationInput",
        "CreateLinkInviteInput",
        "UpdateLinkInviteInput",
      ]),
    );
    for (const prefix of ["Member", "Invite", "LinkInvite"]) {
      expect(names).toContain(`${prefix}Connection`);
      expect(names).toContain(`${prefix}Edge`);
    }
    const mutations = Object.keys(contract.getMutationType()?.getFields() ?? {});
    expect(mutations).toHaveLength(9);
    for (const m of mutations) {
      const name = m[0]?.toUpperCase() + m.slice(1);
      expect(names).toContain(`${name}Result`);
      expect(names).toContain(`${name}Success`);
    }
  });

  it.each(contractTypes.map((t) => [t.name, t] as const))("%s matches the contract", (_name, type) => {
    expect(compareType(type)).toEqual([]);
  });

  it("keeps MemberRole exactly as declared, highest first (the order is the rank)", () => {
    const role = schema.getType("MemberRole");
    expect(isEnumType(role)).toBe(true);
    if (!isEnumType(role)) return;
    expect(role.getValues().map((v) => v.name)).toEqual([
      "ADMIN",
      "CREATE",
      "EDIT",
      "REVIEW",
      "COMMENT",
      "READ",
      "GUEST",
    ]);
  });

  it("types every mutation as <Name>Result!: a union of <Name>Success and Error types only", () => {
    const mutation = schema.getMutationType();
    const errorInterface = schema.getType("Error");
    expect(isInterfaceType(errorInterface)).toBe(true);
    if (!mutation || !isInterfaceType(errorInterface)) return;
    for (const name of Object.keys(contract.getMutationType()?.getFields() ?? {})) {
      const field = mutation.getFields()[name];
      const base = name[0]?.toUpperCase() + name.slice(1);
      expect(String(field?.type), name).toBe(`${base}Result!`);
      const union = schema.getType(`${base}Result`);
      expect(isUnionType(union), `${base}Result`).toBe(true);
      if (!isUnionType(union)) continue;
      const members = union.getTypes();
      expect(members.map((t) => t.name)).toContain(`${base}Success`);
      for (const member of members) {
        if (member.name === `${base}Success`) continue;
        expect(schema.isSubType(errorInterface, member), `${base}Result member ${member.name}`).toBe(true);
        expect(member.name.endsWith("Success"), `${base}Result member ${member.name}`).toBe(false);
      }
    }
  });

  it("the comparison itself catches a broken schema", () => {
    // A self-check of the walker above: a schema with a renamed field, a changed nullability, a
    // reordered enum, a changed default and a non-error union member must all be reported.
    const broken = buildSchema(
      fixtureSdl
        .replace("viewerRole: MemberRole\n", "myRole: MemberRole\n")
        .replace("viewer: User\n", "viewer(as: ID!): User\n")
        .replace("pendingInvites: [Invite!]\n", "pendingInvites: [Invite!]!\n")
        .replace("ADMIN\n  CREATE\n", "CREATE\n  ADMIN\n")
        .replace("role: MemberRole = READ", "role: MemberRole = EDIT")
        .replace(
          "union RevokeInviteResult = RevokeInviteSuccess",
          "union RevokeInviteResult = RevokeInviteSuccess | Member",
        ),
    );
    const problems = contractTypes.flatMap((t) => compareType(t, broken));
    expect(problems).toEqual(
      expect.arrayContaining([
        "Organization.viewerRole is missing",
        "Query.viewer(as: ID!) is an extra required argument",
        "User.pendingInvites is [Invite!]!, contract says [Invite!]",
        "MemberRole is ordered CREATE ADMIN EDIT REVIEW COMMENT READ GUEST, contract says ADMIN CREATE EDIT REVIEW COMMENT READ GUEST",
        "InviteUsersToOrganizationInput.role defaults to EDIT, contract says READ",
        "RevokeInviteResult has Member, which does not implement Error",
      ]),
    );
  });
});
