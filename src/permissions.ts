import { type GraphQLError, type GraphQLResolveInfo, type GraphQLSchema, isObjectType, isUnionType } from "graphql";
import { applyMiddleware } from "graphql-middleware";
import { allow, deny, type IRule, type IRules, rule, shield } from "graphql-shield";

import type { Context } from "./builder.js";
import { hasAtLeast } from "./domain/roles.js";
import { databaseFailure } from "./domain/tx.js";
import { badUserInput, databaseFailureError, forbidden, unauthenticated } from "./graphql-errors.js";

/**
 * Who may read or call what: one table, fail-closed. A field without a rule is denied
 * (`fallbackRule: deny`). Denials are GraphQL errors with extensions.code UNAUTHENTICATED (no viewer)
 * or FORBIDDEN.
 *
 * Rules sit on the fields of each type, not only on Query/Mutation: a type reached through
 * `_entities` (a federation gateway asks for any entity by id) is guarded exactly as when it is
 * reached through a root field. Rules that read arguments or the parent use `no_cache`: shield's
 * `contextual` cache would reuse one answer for two aliases with different organization ids. The
 * lookups they make are batched and memoized per request in ctx.access instead.
 * Rules must sit on object types: graphql-shield ignores rules on interfaces.
 */

type Parent = Record<string, unknown>;
type Args = Record<string, unknown>;

const isAuthenticated = rule({ cache: "contextual" })((_parent, _args, ctx: Context) =>
  ctx.viewer ? true : unauthenticated(),
);

/**
 * graphql-shield turns an error thrown inside a rule into a denial (FORBIDDEN, whatever
 * allowExternalErrors says). A database that fails is no denial: the rule answers with
 * SERVICE_UNAVAILABLE or TIMEOUT instead; any other error is still a denial (fail-closed).
 */
async function unlessDatabaseFails(check: () => Promise<true | GraphQLError>): Promise<true | GraphQLError> {
  try {
    return await check();
  } catch (error) {
    const failure = databaseFailure(error);
    if (failure) return databaseFailureError(failure);
    throw error;
  }
}

type Decision = Promise<true | GraphQLError>;
const decisions = new WeakMap<Context, WeakMap<object, Map<string, Decision>>>();
const sharedDecisions = new WeakMap<Context, Map<string, Decision>>();

/**
 * A rule that depends only on its parent object (and the request) decides once per object: the
 * other fields of that object reuse the answer (an Invite of a list is checked once, not once per
 * field). Kept per request and per object, so nothing is shared between requests or aliases.
 *
 * With `keyOf` (the values the rule reads: an organization id, an invite's organization and
 * invitee), the decision is also shared between objects with the same key: the 50 copies of one
 * organization in a list of invites are one decision, not 50. Only a pending or allowing decision is
 * shared: a denial stays with its object and is decided again for the next one (a join earlier in
 * the same request may change it), as ctx.access keeps no "not a member".
 */
function oncePerParent(
  name: string,
  parent: unknown,
  ctx: Context,
  decide: () => Decision,
  keyOf?: (parent: Parent) => string,
): Decision {
  if (typeof parent !== "object" || parent === null) return decide();
  let byParent = decisions.get(ctx);
  if (!byParent) {
    byParent = new WeakMap();
    decisions.set(ctx, byParent);
  }
  let byRule = byParent.get(parent);
  if (!byRule) {
    byRule = new Map();
    byParent.set(parent, byRule);
  }
  let decision = byRule.get(name);
  if (decision) return decision;
  decision = keyOf ? shared(ctx, `${name}\u0000${keyOf(parent as Parent)}`, decide) : decide();
  byRule.set(name, decision);
  return decision;
}

function shared(ctx: Context, key: string, decide: () => Decision): Decision {
  let byKey = sharedDecisions.get(ctx);
  if (!byKey) {
    byKey = new Map();
    sharedDecisions.set(ctx, byKey);
  }
  const known = byKey.get(key);
  if (known) return known;
  const keys = byKey;
  const decision = decide();
  keys.set(key, decision);
  const forget = () => {
    if (keys.get(key) === decision) keys.delete(key);
  };
  decision.then((answer) => answer === true || forget(), forget);
  return decision;
}

/**
 * A rule, with its decision function: `decide` is what the rule answers for a parent (memoized as the
 * rule memoizes it), for callers that need the same answer outside a field (mayResolveEntity).
 */
type Guard = IRule & { decide(parent: Parent, args: Args, ctx: Context): Decision };

function guard(name: string, decide: Guard["decide"]): Guard {
  const shieldRule = rule(name, { cache: "no_cache" })((parent: Parent, args: Args, ctx: Context) =>
    decide(parent, args, ctx),
  );
  return Object.assign(shieldRule, { decide });
}

/** A member (any role, guests too) or an admin of the organization that `pick` names. */
function roleRule(
  name: string,
  minimum: "GUEST" | "ADMIN",
  pick: (parent: Parent, args: Args) => unknown,
  /** `pick` reads only the parent: decide once per parent object (oncePerParent). */
  { perParent }: { perParent: boolean },
): Guard {
  return guard(name, (parent, args, ctx) => {
    const decide = () =>
      unlessDatabaseFails(async () => {
        if (!ctx.viewer) return unauthenticated();
        const organizationId = pick(parent, args);
        if (typeof organizationId !== "string") return forbidden();
        if (hasAtLeast(await ctx.access.roleIn(organizationId), minimum)) return true;
        return forbidden(
          minimum === "ADMIN"
            ? "Only admins of this organization may do this"
            : "Only members of this organization may see this",
        );
      });
    return perParent ? oncePerParent(name, parent, ctx, decide, (p) => String(pick(p, args))) : decide();
  });
}

/** A check on the parent object, for the fields of one type; `keyOf` names the values it reads. */
function parentRule(
  name: string,
  keyOf: (parent: Parent) => string,
  check: (parent: Parent, ctx: Context & { viewer: object }) => Promise<boolean>,
): Guard {
  return guard(name, (parent, _args, ctx) =>
    oncePerParent(
      name,
      parent,
      ctx,
      () =>
        unlessDatabaseFails(async () => {
          if (!ctx.viewer) return unauthenticated();
          return (await check(parent, ctx as Context & { viewer: object })) ? true : forbidden();
        }),
      keyOf,
    ),
  );
}

const byArgs = { perParent: false };
const byParent = { perParent: true };
const isMemberOfIdArg = roleRule("isMemberOfIdArg", "GUEST", (_p, args) => args.id, byArgs);
const isAdminOfArgOrg = roleRule("isAdminOfArgOrg", "ADMIN", (_p, args) => args.organizationId, byArgs);
const isMemberOfParentOrg = roleRule("isMemberOfParentOrg", "GUEST", (parent) => parent.id, byParent);
const isAdminOfParentOrg = roleRule("isAdminOfParentOrg", "ADMIN", (parent) => parent.id, byParent);
const isAdminOfItsOrg = roleRule("isAdminOfItsOrg", "ADMIN", (parent) => parent.organizationId, byParent);

/** Members and people invited to it. */
const canSeeOrganization = parentRule(
  "canSeeOrganization",
  (org) => String(org.id),
  (org, ctx) => ctx.access.canSeeOrganization(org.id as string),
);
/** The admins of its organization, and the invitee. */
const canSeeInvite = parentRule(
  "canSeeInvite",
  (invite) => `${invite.userId}\u0000${invite.organizationId}`,
  async (invite, ctx) =>
    invite.userId === ctx.viewer.id || hasAtLeast(await ctx.access.roleIn(invite.organizationId as string), "ADMIN"),
);
/** All of a user: themself, co-members, and the like (Access.canSeeUserProfile); not mere invitees. */
const canSeeUserProfile = parentRule(
  "canSeeUserProfile",
  (user) => String(user.id),
  (user, ctx) => ctx.access.canSeeUserProfile(user.id as string),
);
/** A user's email: canSeeUserProfile, and admins whose organization invited that very address. */
const canSeeUserEmail = parentRule(
  "canSeeUserEmail",
  (user) => `${user.id}\u0000${user.email}`,
  (user, ctx) => ctx.access.canSeeUserEmail(user.id as string, (user.email as string | null) ?? null),
);
/** Anything of a user beyond the id (either of the above): whether `_entities` resolves the user. */
const canSeeUser = parentRule(
  "canSeeUser",
  (user) => String(user.id),
  (user, ctx) => ctx.access.canSeeUser(user.id as string),
);
const isSelf = rule("isSelf", { cache: "no_cache" })((parent: { id: string }, _args, ctx: Context) => {
  if (!ctx.viewer) return unauthenticated();
  return parent.id === ctx.viewer.id ? true : forbidden("Only the user themself may see their pending invites");
});

/**
 * A gateway's `_entities` call may carry at most MAX_ENTITY_REPRESENTATIONS representations, each
 * an object naming an entity type of this subgraph and its `id` as a string (`_Any` accepts any
 * JSON: anything else would reach resolveReference and crash as "Unexpected error.").
 */
const withinRepresentationLimit = rule("withinRepresentationLimit", { cache: "no_cache" })(
  (_parent, args: Args, ctx: Context, info: GraphQLResolveInfo) => {
    const representations = Array.isArray(args.representations) ? (args.representations as unknown[]) : [];
    const limit = ctx.config.limits.entityRepresentations;
    if (representations.length > limit) {
      return badUserInput(`At most ${limit} representations per _entities call (got ${representations.length})`);
    }
    const entity = info.schema.getType("_Entity");
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
  },
);

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
  const decision = await ENTITY_VISIBILITY[typename].decide(entity as Parent, {}, ctx);
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
  },
  Subscription: {
    // Checked when the subscription starts (graphql-middleware wraps `subscribe`).
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

export const permissions = shield(ruleTree as IRules, {
  fallbackRule: deny,
  fallbackError: () => forbidden(),
  // Errors thrown by resolvers pass through to Yoga (and its masking) instead of turning into
  // denials; expected domain outcomes are results, not errors.
  allowExternalErrors: true,
  debug: false,
});

const SHIELD_APPLIED = "invites-gateway.shieldApplied";

/**
 * graphql-middleware wraps a subscription field's `resolve` (run per event) when it has one, and its
 * `subscribe` only when it has none: a caller the rule refuses would get a running subscription
 * whose every event is a denial. So the `subscribe` of every Subscription field is guarded here by
 * the field's rule (none: deny), and a refused caller gets the rule's error at once, with no
 * subscription started. The per-event check stays (memoized per request: it costs no query); the
 * check that the viewer is still an admin with a valid credential, on fresh rows before each event
 * and periodically between events, is organizationEvents' own (whileAdmin in src/schema/audit-event.ts).
 */
function guardSubscriptions(schema: GraphQLSchema): void {
  const rules = (ruleTree as Record<string, Record<string, unknown>>).Subscription ?? {};
  for (const [name, field] of Object.entries(schema.getSubscriptionType()?.getFields() ?? {})) {
    const own = field.subscribe;
    if (!own) continue;
    const fieldRule = (rules[name] ?? deny) as IRule;
    field.subscribe = async (parent, args, ctx: Context, info) => {
      const options = { debug: false } as Parameters<IRule["resolve"]>[4];
      const decision = await fieldRule.resolve(parent, args, ctx as never, info, options);
      if (decision === true) return own(parent, args, ctx, info);
      return decision instanceof Error ? decision : forbidden();
    };
  }
}

/**
 * The schema with `permissions` applied (graphql-middleware wraps every field resolver in shield's
 * rule check), then the fields whose rule is `allow` given back their own resolver: shield would
 * only call it (an `allow` rule always passes, and with allowExternalErrors a resolver's error is
 * passed on as it is), at the cost of a few promises per field and per list item. Every other field,
 * those without a rule (fallbackRule: deny) included, stays wrapped: still fail-closed.
 */
export function applyPermissions(schema: GraphQLSchema): GraphQLSchema {
  if (schema.extensions?.[SHIELD_APPLIED]) return schema;
  const shielded = applyMiddleware(schema, permissions);
  const rules = ruleTree as Record<string, unknown>;
  for (const [typeName, typeRules] of Object.entries(rules)) {
    const type = shielded.getType(typeName);
    const original = schema.getType(typeName);
    if (!isObjectType(type) || !isObjectType(original)) continue;
    const originalFields = original.getFields();
    for (const [fieldName, field] of Object.entries(type.getFields())) {
      const fieldRule = typeRules === allow ? allow : (typeRules as Record<string, unknown>)[fieldName];
      const own = originalFields[fieldName];
      if (fieldRule !== allow || !own) continue;
      field.resolve = own.resolve;
      field.subscribe = own.subscribe;
    }
  }
  guardSubscriptions(shielded);
  shielded.extensions = { ...schema.extensions, [SHIELD_APPLIED]: true };
  return shielded;
}
