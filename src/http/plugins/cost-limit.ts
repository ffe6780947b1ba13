import {
  type DocumentNode,
  type ExecutionArgs,
  GraphQLError,
  type GraphQLField,
  getNamedType,
  getNullableType,
  getOperationAST,
  getVariableValues,
  isCompositeType,
  isListType,
  Kind,
  visit,
} from "graphql";
import { type ComplexityEstimatorArgs, getComplexity } from "graphql-query-complexity";
import type { Plugin } from "graphql-yoga";
import { MAX_ALLOWED_DOMAINS } from "../../domain/domains.js";
import { MAX_EMAILS_PER_CALL } from "../../domain/invites.js";
import { MAX_LISTED_ORGANIZATIONS, MAX_LISTED_PENDING_INVITES } from "../../domain/users.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "../../graphql/builder.js";

/**
 * MAX_COST: what a request may ask for, counted before it runs, with the values it will really use.
 *
 * Each object field costs 2 and each scalar 1; a list multiplies what it holds by the number of
 * items it may return. A paged field (one with `first`) returns `first` items: the literal, or the
 * variable's value, or the default page size when it is absent or null (a value above the maximum
 * page size is the resolver's BAD_USER_INPUT, counted at the maximum here). `_entities` returns one
 * entity per representation. Every other list has a fixed bound (LIST_BOUNDS), which its resolver
 * enforces where it reads the database. Fragments, inline fragments and `@skip`/`@include` count as
 * they will execute (graphql-query-complexity expands them with the request's variables); a union
 * or interface counts its most expensive member. Introspection is free (its depth has its own limit).
 *
 * It runs at execution, not validation: validation is cached per document and never sees the
 * variables, which is how `first: $n` escaped graphql-armor's cost rule (it multiplies by literals
 * only, and by 1 when `first` is absent).
 */
export const LIST_BOUNDS: Readonly<Record<string, number>> = {
  // Connections: the parent field's `first` counts the items; each page has one `edges` list.
  "AuditEventConnection.edges": 1,
  "InviteConnection.edges": 1,
  "LinkInviteConnection.edges": 1,
  "MemberConnection.edges": 1,
  "User.organizations": MAX_LISTED_ORGANIZATIONS,
  "User.pendingInvites": MAX_LISTED_PENDING_INVITES,
  "Organization.allowedDomains": MAX_ALLOWED_DOMAINS,
  "InviteUsersToOrganizationSuccess.users": MAX_EMAILS_PER_CALL,
  "InviteUsersToOrganizationSuccess.invites": MAX_EMAILS_PER_CALL,
  "InviteUsersToOrganizationSuccess.failedSSOEmails": MAX_EMAILS_PER_CALL,
  "InviteUsersToOrganizationSuccess.alreadyMembers": MAX_EMAILS_PER_CALL,
  // Made from the input of the call that failed, never read from the database.
  "ValidationError.issues": MAX_EMAILS_PER_CALL,
  "ValidationIssue.path": 10,
};

/** A list field with no bound above counts as the largest page (fail-closed; a test lists them all). */
const UNKNOWN_LIST_BOUND = MAX_PAGE_SIZE;

export interface CostOptions {
  maxCost: number;
  /** MAX_ENTITY_REPRESENTATIONS: more is refused by its own rule, so it is counted at this many. */
  maxRepresentations: number;
}

/** How many items `field` of `parentType` may return for these (coerced) arguments; 1 if not a list. */
export function listSize(
  parentType: string,
  field: GraphQLField<unknown, unknown>,
  args: Record<string, unknown>,
  options: Pick<CostOptions, "maxRepresentations">,
): number {
  if (field.args.some((a) => a.name === "first")) {
    const first = typeof args.first === "number" ? args.first : DEFAULT_PAGE_SIZE;
    return Math.min(Math.max(first, 0), MAX_PAGE_SIZE);
  }
  if (field.name === "_entities") {
    const count = Array.isArray(args.representations) ? args.representations.length : 0;
    return Math.min(count, options.maxRepresentations);
  }
  if (!isListType(getNullableType(field.type))) return 1;
  return LIST_BOUNDS[`${parentType}.${field.name}`] ?? UNKNOWN_LIST_BOUND;
}

function estimator(options: Pick<CostOptions, "maxRepresentations">) {
  return ({ type, field, args, childComplexity }: ComplexityEstimatorArgs): number => {
    if (field.name.startsWith("__") || type.name.startsWith("__")) return 0;
    const own = isCompositeType(getNamedType(field.type)) ? 2 : 1;
    return (own + childComplexity) * listSize(type.name, field, args, options);
  };
}

function refusal(message: string): GraphQLError {
  // The status of the other request limits (graphql-armor's, at validation): 200 with application/json.
  return new GraphQLError(message, { extensions: { code: "BAD_USER_INPUT" } });
}

/**
 * The cost of one operation with its variables; null when the variables do not fit the operation
 * (graphql-js then refuses the whole request before anything runs, with the same check). Anything
 * else that keeps the cost from being counted throws, and the request is refused: a field whose own
 * argument fails (a null for a non-null argument through a nullable variable with a default) would
 * otherwise fail alone while its siblings run uncounted.
 */
export function operationCost(
  args: Pick<ExecutionArgs, "schema" | "document" | "variableValues" | "operationName">,
  options: Pick<CostOptions, "maxRepresentations">,
): number | null {
  const operation = getOperationAST(args.document, args.operationName);
  if (!operation) return null;
  const variables = (args.variableValues ?? {}) as Record<string, unknown>;
  const coerced = getVariableValues(args.schema, operation.variableDefinitions ?? [], variables);
  if (coerced.errors?.length) return null;
  return getComplexity({
    schema: args.schema,
    query: args.document,
    variables,
    operationName: args.operationName ?? undefined,
    estimators: [estimator(options)],
  });
}

/**
 * The variables an operation's cost can depend on: those given to a `first` or `representations`
 * argument or to `@skip`/`@include`, anywhere in the document. Found once per document.
 */
function costVariables(document: DocumentNode): Array<{ name: string; list: boolean }> {
  const found = new Map<string, boolean>();
  visit(document, {
    Argument(node, _key, parent) {
      if (node.value.kind !== Kind.VARIABLE) return;
      const inDirective = (parent as { kind?: string } | undefined)?.kind === Kind.DIRECTIVE;
      const name = node.name.value;
      if (name === "representations" || name === "first" || (inDirective && name === "if")) {
        found.set(node.value.name.value, name === "representations");
      }
    },
  });
  return [...found].map(([name, list]) => ({ name, list }));
}

/**
 * What of a variable's value the cost depends on: a list's length, a scalar as it is. Any other
 * object or list is `{}`: a one-item list for `representations`; for `first` or `if` a value that
 * does not coerce (the cost is not counted, so never remembered under this key). Never the object
 * itself: JSON.stringify recurses, and `first: [[[…]]]` 5,000 deep overflowed the stack here.
 */
function costKey(value: unknown, list: boolean): string {
  if (list && Array.isArray(value)) return `#${value.length}`;
  if (typeof value === "object" && value !== null) return "{}";
  return JSON.stringify(value) ?? "undefined";
}

const MAX_CACHED_COSTS = 64;
const MAX_KEY_LENGTH = 256;
const costCache = new WeakMap<
  DocumentNode,
  { variables: Array<{ name: string; list: boolean }>; costs: Map<string, number> }
>();

/**
 * operationCost, remembered per document (Yoga hands the same parsed document to every request with
 * the same text) and per value of the variables it depends on: most requests (a page size written
 * in the query, the same variables again) cost a Map lookup instead of a walk of the document.
 */
function cachedOperationCost(args: ExecutionArgs, options: CostOptions): number | null {
  let entry = costCache.get(args.document);
  if (!entry) {
    entry = { variables: costVariables(args.document), costs: new Map() };
    costCache.set(args.document, entry);
  }
  const values = (args.variableValues ?? {}) as Record<string, unknown>;
  let key = args.operationName ?? "";
  for (const { name, list } of entry.variables) key += `\u0000${costKey(values[name], list)}`;
  const known = entry.costs.get(key);
  if (known !== undefined) return known;
  const cost = operationCost(args, options);
  // Only a counted cost is remembered: `null` depends on variables outside the key.
  if (cost !== null && key.length <= MAX_KEY_LENGTH) {
    if (entry.costs.size >= MAX_CACHED_COSTS) entry.costs.clear();
    entry.costs.set(key, cost);
  }
  return cost;
}

function check(args: ExecutionArgs, options: CostOptions): GraphQLError | null {
  let cost: number | null;
  try {
    cost = cachedOperationCost(args, options);
  } catch (error) {
    return refusal(`The cost of this query cannot be counted, so it is not run: ${(error as Error).message}`);
  }
  if (cost === null || cost <= options.maxCost) return null;
  return refusal(
    `Query cost limit of ${options.maxCost} exceeded, found ${cost}. A list counts once per item it may return: a paged field its \`first\` (default ${DEFAULT_PAGE_SIZE}), _entities its representations.`,
  );
}

/** MAX_COST, checked before a query, mutation or subscription runs. */
export function useCostLimit(options: CostOptions): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = check(args, options);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = check(args, options);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}
