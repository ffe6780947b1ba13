import { MapperKind, mapSchema } from "@graphql-tools/utils";
import {
  defaultFieldResolver,
  type GraphQLError,
  type GraphQLFieldResolver,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  isUnionType,
} from "graphql";
import { allow, deny, type IRule, type IRules, rule, shield } from "graphql-shield";
import { isPending, type Known, whenKnown } from "../domain/access.js";
import { hasAtLeast } from "../domain/roles.js";
import { databaseFailure } from "../domain/tx.js";
import type { Context } from "./builder.js";
import { badUserInput, databaseFailureError, forbidden, unauthenticated } from "./errors.js";

/**
 * Who may read or call what: one table (ruleTree, graphql-shield rules), fail-closed. A field without
 * a rule is denied. Denials are GraphQL errors with extensions.code UNAUTHENTICATED (no viewer) or
 * FORBIDDEN.
 *
 * Rules sit on the fields of each type, not only on Query/Mutation: a type reached through
 * `_entities` (a federation gateway asks for any entity by id) is guarded exactly as when it is
 * reached through a root field. Rules must sit on object types (as graphql-shield's, which ignores
 * interfaces). The lookups rules make are batched and memoized per request in ctx.access, which
 * answers synchronously once it knows: most decisions cost no promise (applyPermissions below).
 */

type Parent = Record<string, unknown>;
type Args = Record<string, unknown>;
type Decision = true | GraphQLError;
type Decide = (parent: Parent, args: Args, ctx: Context, info?: GraphQLResolveInfo) => Known<Decision>;

/**
 * A rule that throws or rejects denies (FORBIDDEN, as graphql-shield's rules do), but a database
 * that fails is no denial: the decision is SERVICE_UNAVAILABLE or TIMEOUT instead.
 */
function failClosed(error: unknown): Decision {
  const failure = databaseFailure(error);
  return failure ? databaseFailureError(failure) : forbidden();
}

function decideSafely(decide: Decide, parent: Parent, args: Args, ctx: Context, info?: GraphQLResolveInfo) {
  try {
    const decision = decide(parent, args, ctx, info);
    return isPending(decision) ? decision.then(checked, failClosed) : checked(decision);
  } catch (error) {
    return failClosed(error);
  }
}

/** Anything but `true` or an error (a rule's bug) is a denial. */
function checked(decision: unknown): Decision {
  return decision === true || decision instanceof Error ? (decision as Decision) : forbidden();
}

const pendingDecisions = new WeakMap<Context, WeakMap<object, Map<string, Known<Decision>>>>();

/**
 * A rule that depends only on its parent object (and the request) decides once per object while it
 * waits: the other fields of that object wait on the same decision instead of asking ctx.access
 * again (a question whose answer ctx.access does not keep, such as "not a member", would otherwise
 * be asked once per field). A decision known at once is not kept: asking again costs a map lookup.
 */
function oncePerParent(name: string, parent: unknown, ctx: Context, decide: () => Known<Decision>): Known<Decision> {
  if (typeof parent !== "object" || parent === null) return decide();
  let byParent = pendingDecisions.get(ctx);
  const earlier = byParent?.get(parent)?.get(name);
  if (earlier !== undefined) return earlier;
  const decision = decide();
  if (!isPending(decision)) return decision;
  if (!byParent) {
    byParent = new WeakMap();
    pendingDecisions.set(ctx, byParent);
  }
  let byRule = byParent.get(parent);
  if (!byRule) {
    byRule = new Map();
    byParent.set(parent, byRule);
  }
  const rules = byRule;
  rules.set(name, decision);
  // A failed lookup is not kept (decideSafely answers it); the next field asks again.
  void decision.then(
    (answer) => rules.set(name, answer),
    () => rules.delete(name),
  );
  return decision;
}

/**
 * A graphql-shield rule with its decision function: `decide` answers synchronously when ctx.access
 * knows (applyPermissions calls it directly), and is what mayResolveEntity asks outside a field.
 */
type Guard = IRule & { decide: Decide };

function guard(name: string, decide: Decide): Guard {
  const shieldRule = rule(name, { cache: "no_cache" })((parent: Parent, args: Args, ctx: Context, info) =>
    decideSafely(decide, parent, args, ctx, info),
  );
  return Object.assign(shieldRule, { decide });
}

const isAuthenticated = guard("isAuthenticated", (_parent, _args, ctx) => (ctx.viewer ? true : unauthenticated()));

/** A member (any role, guests too) or an admin of the organization that `pick` names. */
function roleRule(
  name: string,
  minimum: "GUEST" | "ADMIN",
  pick: (parent: Parent, args: Args) => unknown,
  /** `pick` reads only the parent: decide once per parent object while waiting (oncePerParent). */
  { perParent }: { perParent: boolean },
): Guard {
  const denial = () =>
    forbidden(
      minimum === "ADMIN"
        ? "Only admins of this organization may do this"
        : "Only members of this organization may see this",
    );
  return guard(name, (parent, args, ctx) => {
    if (!ctx.viewer) return unauthenticated();
    const organizationId = pick(parent, args);
    if (typeof organizationId !== "string") return forbidden();
    const decide = () =>
      whenKnown(ctx.access.roleIn(organizationId), (role): Decision => (hasAtLeast(role, minimum) ? true : denial()));
    return perParent ? oncePerParent(name, parent, ctx, decide) : decide();
  });
}

/** A check on the parent object, for the fields of one type (decided once per object while waiting). */
function parentRule(name: string, check: (parent: Parent, ctx: Context & { viewer: object }) => Known<boolean>): Guard {
  return guard(name, (parent, _args, ctx) => {
    if (!ctx.viewer) return unauthenticated();
    const viewing = ctx as Context & { viewer: object };
    return oncePerParent(name, parent, ctx, () =>
      whenKnown(check(parent, viewing), (allowed): Decision => (allowed ? true : forbidden())),
    );
  });
}

const byArgs = { perParent: false };
const byParent = { perParent: true };
const isMemberOfIdArg = roleRule("isMemberOfIdArg", "GUEST", (_p, args) => args.id, byArgs);
const isAdminOfArgOrg = roleRule("isAdminOfArgOrg", "ADMIN", (_p, args) => args.organizationId, byArgs);
const isMemberOfArgOrg = roleRule("isMemberOfArgOrg", "GUEST", (_p, args) => args.organizationId, byArgs);
/** removeMember: admins; any member when `userId` is the viewer (removing yourself is leaving). */
const isAdminOfArgOrgOrSelf = guard("isAdminOfArgOrgOrSelf", (parent, args, ctx, info) =>
  ctx.viewer && args.userId === ctx.viewer.id
    ? isMemberOfArgOrg.decide(parent, args, ctx, info)
    : isAdminOfArgOrg.decide(parent, args, ctx, info),
);
const isMemberOfParentOrg = roleRule("isMemberOfParentOrg", "GUEST", (parent) => parent.id, byParent);
const isAdminOfParentOrg = roleRule("isAdminOfParentOrg", "ADMIN", (parent) => parent.id, byParent);
const isAdminOfItsOrg = roleRule("isAdminOfItsOrg", "ADMIN", (parent) => parent.organizationId, byParent);

/** Members and people invited to it. */
const canSeeOrganization = parentRule("canSeeOrganization", (org, ctx) =>
  ctx.access.canSeeOrganization(org.id as string),
);
/** The admins of its organization, and the invitee. */
const canSeeInvite = parentRule(
  "canSeeInvite",
  (invite, ctx) =>
    invite.userId === ctx.viewer.id ||
    whenKnown(ctx.access.roleIn(invite.organizationId as string), (role) => hasAtLeast(role, "ADMIN")),
);
/** All of a user: themself, co-members, and the like (Access.canSeeUserProfile); not mere invitees. */
const canSeeUserProfile = parentRule("canSeeUserProfile", (user, ctx) =>
  ctx.access.canSeeUserProfile(user.id as string),
);
/** A user's email: canSeeUserProfile, and admins whose organization invited that very address. */
const canSeeUserEmail = parentRule("canSeeUserEmail", (user, ctx) =>
  ctx.access.canSeeUserEmail(user.id as string, (user.email as string | null) ?? null),
);
/** Anything of a user beyond the id (either of the above): whether `_entities` resolves the user. */
const canSeeUser = parentRule("canSeeUser", (user, ctx) => ctx.access.canSeeUser(user.id as string));
const isSelf = guard("isSelf", (parent, _args, ctx) => {
  if (!ctx.viewer) return unauthenticated();
  return parent.id === ctx.viewer.id ? true : forbidden("Only the user themself may see their pending invites");
});

/**
 * A gateway's `_entities` call may carry at most MAX_ENTITY_REPRESENTATIONS representations, each
 * an object naming an entity type of this subgraph and its `id` as a string (`_Any` accepts any
 * JSON: anything else would reach resolveReference and crash as "Unexpected error.").
 */
const withinRepresentationLimit = guard("withinRepresentationLimit", (_parent, args, ctx, info): Decision => {
  const representations = Array.isArray(args.representations) ? (args.representations as unknown[]) : [];
  const limit = ctx.config.limits.entityRepresentations;
  if (representations.length > limit) {
    return badUserInput(`At most ${limit} representations per _entities call (got ${representations.length})`);
  }
  const entity = info?.schema.getType("_Entity");
  const entityTypes = new Set(isUnionType(entity) ? entity.getTypes().map((t) => t.name) : []);
  const index = representations.findIndex((r) => {
    const { __typename, id } = (typeof r === "object" && r !== null ? r : {}) as Record<string, unknown>;
    return typeof __typename !== "string" || !entityTypes.has(__typename) || typeof id !== "string";
  });
  return index === -1
    ? true
    : badUserInput(
        `Representation ${index} must be an object with the __typename of an entity (${[...entityTypes].join(", ")}) and a string id`,
      );
});

/** Every field of a type but its `id` (the key a caller already holds) under one rule. */
function allButId<const F extends string>(fields: readonly F[], fieldsRule: IRule) {
  return { id: allow, ...Object.fromEntries(fields.map((f) => [f, fieldsRule])) } as Record<"id" | F, typeof allow>;
}

/**
 * Whether the viewer may see an entity at all: for each entity type, the rule of its fields beyond
 * `id`. An entity the rule refuses is answered by resolveReference as null, exactly as one that does
 * not exist (`_entities` is no existence oracle: an `id` field under `allow` would otherwise tell a
 * hidden entity from a missing one); the type's rules still guard every field of the entities
 * resolved. The decision is the rule's own, memoized for the object (oncePerParent): the field
 * rules that follow reuse it, and 50 representations ask ctx.access once, batched.
 */
const ENTITY_VISIBILITY = {
  Organization: canSeeOrganization,
  Invite: canSeeInvite,
  LinkInvite: isAdminOfItsOrg,
  User: canSeeUser,
} satisfies Record<string, Guard>;

export type EntityTypename = keyof typeof ENTITY_VISIBILITY;

/** For resolveReference: true when the viewer may see `entity` (see ENTITY_VISIBILITY). */
export async function mayResolveEntity(typename: EntityTypename, entity: object, ctx: Context): Promise<boolean> {
  const decision = await decideSafely(ENTITY_VISIBILITY[typename].decide, entity as Parent, {}, ctx);
  if (decision === true) return true;
  const code = decision.extensions?.code;
  if (code === "UNAUTHENTICATED" || code === "FORBIDDEN") return false;
  // The database failed (SERVICE_UNAVAILABLE, TIMEOUT): that says nothing about the entity.
  throw decision;
}

/** Result, payload and error types: reachable only through a field guarded above. */
const PAYLOAD_TYPES = [
  "Member",
  "LinkInvitePreview",
  "PageInfo",
  "MemberConnection",
  "MemberEdge",
  "InviteConnection",
  "InviteEdge",
  "LinkInviteConnection",
  "LinkInviteEdge",
  "AuditEventConnection",
  "AuditEventEdge",
  // Reachable only through Organization.auditLog and Subscription.organizationEvents (admins); its
  // `actor` is a User, under the User rules.
  "AuditEvent",
  "CreateOrganizationSuccess",
  "InviteUsersToOrganizationSuccess",
  "JoinOrganizationWithInviteSuccess",
  "RevokeInviteSuccess",
  "CreateLinkInviteSuccess",
  "UpdateLinkInviteSuccess",
  "RevokeLinkInviteSuccess",
  "UpdateOrganizationDomainsSuccess",
  "JoinOrganizationByDomainSuccess",
  "UpdateMemberRoleSuccess",
  "RemoveMemberSuccess",
  "LeaveOrganizationSuccess",
  "ValidationIssue",
  "ValidationError",
  "NotFoundError",
  "AlreadyMemberError",
  "InviteExpiredError",
  "InviteRevokedError",
  "InviteUsedUpError",
  "InviteAlreadyAcceptedError",
  "InviteEmailMismatchError",
  "DomainNotAllowedError",
  "RateLimitedError",
  "LastAdminError",
  // Federation: key-only references to other subgraphs' entities, and the SDL for gateways.
  "Space",
  "Collection",
  "_Service",
] as const;

export const ruleTree = {
  Query: {
    viewer: allow,
    organization: isMemberOfIdArg,
    linkInvitePreview: allow,
    // Entities answer with the same type rules as everywhere else.
    _entities: withinRepresentationLimit,
    _service: allow,
  },
  Mutation: {
    createOrganization: isAuthenticated,
    joinOrganizationWithInvite: isAuthenticated,
    inviteUsersToOrganization: isAdminOfArgOrg,
    revokeInvite: isAdminOfArgOrg,
    createLinkInvite: isAdminOfArgOrg,
    updateLinkInvite: isAdminOfArgOrg,
    revokeLinkInvite: isAdminOfArgOrg,
    updateOrganizationDomains: isAdminOfArgOrg,
    // Any signed-in user: the domain function decides (verified email in an allowed domain).
    joinOrganizationByDomain: isAuthenticated,
    updateMemberRole: isAdminOfArgOrg,
    removeMember: isAdminOfArgOrgOrSelf,
    leaveOrganization: isMemberOfArgOrg,
  },
  Subscription: {
    // Checked when the subscription starts (applyPermissions guards `subscribe`) and for each event.
    organizationEvents: isAdminOfArgOrg,
  },
  // An inviting admin sees of a person who shares no organization with them the id, and the email
  // while it is the address they invited; the name is for people who share one. `organizations` of
  // another user lists only organizations the viewer is a member of too: for such an invitee it is
  // always empty (sharing one would make them a co-member), so it stays readable, and a FORBIDDEN on
  // that non-null field would null the whole payload of the invite that was just sent.
  User: {
    id: allow,
    email: canSeeUserEmail,
    displayName: canSeeUserProfile,
    organizations: canSeeUser,
    pendingInvites: isSelf,
  },
  Organization: {
    ...allButId(["title", "createdAt", "viewerRole"], canSeeOrganization),
    members: isMemberOfParentOrg,
    member: isMemberOfParentOrg,
    invites: isAdminOfParentOrg,
    linkInvites: isAdminOfParentOrg,
    linkInvite: isAdminOfParentOrg,
    auditLog: isAdminOfParentOrg,
    allowedDomains: isAdminOfParentOrg,
  },
  Invite: allButId(
    ["organization", "email", "role", "sso", "status", "user", "invitedBy", "createdAt", "expiresAt", "acceptedAt"],
    canSeeInvite,
  ),
  LinkInvite: allButId(
    [
      "organization",
      "kind",
      "role",
      "spaceId",
      "collectionId",
      "space",
      "collection",
      "redundant",
      "url",
      "status",
      "uses",
      "maxUses",
      "createdBy",
      "createdAt",
      "updatedAt",
      "expiresAt",
      "revokedAt",
    ],
    isAdminOfItsOrg,
  ),
  ...Object.fromEntries(PAYLOAD_TYPES.map((type) => [type, allow])),
};

/** How graphql-shield itself would apply the table (and its check of the table, when it loads). */
const SHIELD_OPTIONS = {
  fallbackRule: deny,
  fallbackError: () => forbidden(),
  // Errors thrown by resolvers pass through to Yoga (and its masking) instead of turning into
  // denials; expected domain outcomes are results, not errors.
  allowExternalErrors: true,
  debug: false,
} satisfies NonNullable<Parameters<typeof shield>[1]>;

/**
 * graphql-shield's own middleware over the table. The service applies the same table with
 * applyPermissions (below); this one validates the table when the module loads and is the
 * reference the tests hold applyPermissions to.
 */
export const permissions = shield(ruleTree as IRules, SHIELD_OPTIONS);

const RULE_NAME = "invites-gateway.rule";
const APPLIED = "invites-gateway.permissionsApplied";

/** Any graphql-shield rule (a rule, allow, deny, a logic rule such as and/or). */
type ShieldRule = {
  name?: string;
  resolve(parent: object, args: object, ctx: never, info: GraphQLResolveInfo, options: never): Promise<unknown>;
};
const ALLOW = allow as unknown as ShieldRule;
const DENY = deny as unknown as ShieldRule;

/** The rule of a field in the table: the field's own, the type's, or the fallback (deny). */
export function ruleOf(typeName: string, fieldName: string): ShieldRule {
  const typeRules = (ruleTree as Record<string, unknown>)[typeName];
  if (typeRules === undefined) return DENY;
  if (isRule(typeRules)) return typeRules;
  const fieldRule = (typeRules as Record<string, unknown>)[fieldName];
  return isRule(fieldRule) ? fieldRule : DENY;
}

function isRule(value: unknown): value is ShieldRule {
  return typeof value === "object" && value !== null && typeof (value as ShieldRule).resolve === "function";
}

/** The decision function of any shield rule: a Guard's own, else the rule's `resolve` (logic rules). */
function decisionOf(fieldRule: ShieldRule): Decide {
  if (fieldRule === DENY) return () => forbidden();
  if ("decide" in fieldRule && typeof fieldRule.decide === "function") return fieldRule.decide as Decide;
  return (parent, args, ctx, info) => {
    const shielded = ctx as Context & { _shield?: { cache: Record<string, unknown> } };
    shielded._shield ??= { cache: {} };
    return fieldRule
      .resolve(parent, args, shielded as never, info as GraphQLResolveInfo, SHIELD_OPTIONS as never)
      .then(checked);
  };
}

/** A field's resolver behind its rule: the resolver runs only on `true`; any other decision is the answer. */
function guardedResolver(
  decide: Decide,
  resolve: GraphQLFieldResolver<unknown, Context>,
): GraphQLFieldResolver<unknown, Context> {
  return (parent, args, ctx, info) => {
    const decision = decideSafely(decide, parent as Parent, args, ctx, info);
    if (decision === true) return resolve(parent, args, ctx, info);
    if (isPending(decision)) {
      return decision.then((answer) => (answer === true ? resolve(parent, args, ctx, info) : answer));
    }
    return decision;
  };
}

/**
 * A subscription's `subscribe` behind its rule: a refused caller gets the rule's error at once, and
 * no subscription starts. (The per-event `resolve` is guarded as every other field: with the roles
 * the request already knows, it costs no query. That the viewer is still an admin with a valid
 * credential, on fresh rows before each event and periodically between events, is checked by
 * organizationEvents itself: whileAdmin in src/graphql/schema/audit-event.ts.)
 */
function guardedSubscribe(decide: Decide, subscribe: GraphQLFieldResolver<unknown, Context>) {
  return async (parent: unknown, args: Args, ctx: Context, info: GraphQLResolveInfo) => {
    const decision = await decideSafely(decide, parent as Parent, args, ctx, info);
    return decision === true ? subscribe(parent, args, ctx, info) : decision;
  };
}

/**
 * The schema with the table applied. graphql-shield (through graphql-middleware) would wrap every
 * field in an async middleware: a promise per field and per list item, and a rule's answer always a
 * tick away. Here each field of each object type gets its rule's decision function directly: when
 * ctx.access already knows the answer (a role loaded by the rule of the parent field), the field
 * resolves synchronously, with no promise; when it must ask, the resolver waits on the decision.
 * The semantics are shield's with the options above: fallbackRule deny (a type or field without a
 * rule is FORBIDDEN), a rule that throws denies, resolver errors pass through (allowExternalErrors),
 * a field whose rule is `allow` keeps its own resolver. Interfaces and unions are not object types:
 * their fields resolve through the object types' guarded ones. Introspection is not guarded (it is
 * what INTROSPECTION turns off). Every guarded field carries its rule's name in
 * `extensions["invites-gateway.rule"]` (test/graphql/shield.test.ts walks the schema for it).
 */
export function applyPermissions(schema: GraphQLSchema): GraphQLSchema {
  if (schema.extensions?.[APPLIED]) return schema;
  const applied = mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (field, fieldName, typeName) => {
      const fieldRule = ruleOf(typeName, fieldName);
      if (fieldRule === ALLOW) return field;
      const decide = decisionOf(fieldRule);
      return {
        ...field,
        resolve: guardedResolver(
          decide,
          (field.resolve ?? defaultFieldResolver) as GraphQLFieldResolver<unknown, Context>,
        ),
        ...(field.subscribe
          ? { subscribe: guardedSubscribe(decide, field.subscribe as GraphQLFieldResolver<unknown, Context>) }
          : {}),
        extensions: { ...field.extensions, [RULE_NAME]: fieldRule === DENY ? "deny" : (fieldRule.name ?? "rule") },
      };
    },
  });
  applied.extensions = { ...applied.extensions, [APPLIED]: true };
  return applied;
}
