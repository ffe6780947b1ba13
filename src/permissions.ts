import { allow, deny, rule, shield } from "graphql-shield";
import type { Context } from "./builder.js";
import { hasAtLeast } from "./domain/roles.js";
import { forbidden, unauthenticated } from "./graphql-errors.js";

/**
 * Who may read or call what: one table, fail-closed. A field without a rule is denied
 * (`fallbackRule: deny`). Denials are GraphQL errors with extensions.code UNAUTHENTICATED (no viewer)
 * or FORBIDDEN. Rules that read arguments or the parent use `no_cache`: graphql-shield's
 * `contextual` cache would reuse one answer for two aliases with different organization ids.
 * Membership lookups are memoized per request in the context instead (ctx.roleIn).
 * Rules must sit on object types: graphql-shield ignores rules on interfaces.
 */

const isAuthenticated = rule({ cache: "contextual" })((_parent, _args, ctx: Context) =>
  ctx.viewer ? true : unauthenticated(),
);

/** A member (any role, guests too) or an admin of the organization `pick` names. */
function roleRule(
  name: string,
  minimum: "GUEST" | "ADMIN",
  pick: (parent: unknown, args: Record<string, unknown>) => unknown,
) {
  return rule(name, { cache: "no_cache" })(async (parent, args, ctx: Context) => {
    if (!ctx.viewer) return unauthenticated();
    const organizationId = pick(parent, args);
    if (typeof organizationId !== "string") return forbidden();
    const role = await ctx.roleIn(organizationId);
    if (hasAtLeast(role, minimum)) return true;
    return forbidden(
      minimum === "ADMIN"
        ? "Only admins of this organization may do this"
        : "Only members of this organization may see this",
    );
  });
}

const argOrg = (_p: unknown, args: Record<string, unknown>) => args.organizationId;
const argId = (_p: unknown, args: Record<string, unknown>) => args.id;
const parentOrg = (parent: unknown) => (parent as { id?: unknown }).id;

const isMemberOfIdArg = roleRule("isMemberOfIdArg", "GUEST", argId);
const isAdminOfArgOrg = roleRule("isAdminOfArgOrg", "ADMIN", argOrg);
const isMemberOfParentOrg = roleRule("isMemberOfParentOrg", "GUEST", parentOrg);
const isAdminOfParentOrg = roleRule("isAdminOfParentOrg", "ADMIN", parentOrg);

const isSelf = rule("isSelf", { cache: "no_cache" })((parent: { id: string }, _args, ctx: Context) => {
  if (!ctx.viewer) return unauthenticated();
  return parent.id === ctx.viewer.id ? true : forbidden("Only the user themself may see their pending invites");
});

/** Result, payload and error types: reachable only through a field guarded above. */
const PAYLOAD_TYPES = [
  "Member",
  "Invite",
  "LinkInvite",
  "LinkInvitePreview",
  "PageInfo",
  "MemberConnection",
  "MemberEdge",
  "InviteConnection",
  "InviteEdge",
  "LinkInviteConnection",
  "LinkInviteEdge",
  "CreateOrganizationSuccess",
  "InviteUsersToOrganizationSuccess",
  "JoinOrganizationWithInviteSuccess",
  "RevokeInviteSuccess",
  "CreateLinkInviteSuccess",
  "UpdateLinkInviteSuccess",
  "RevokeLinkInviteSuccess",
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
] as const;

export const ruleTree = {
  Query: {
    viewer: allow,
    organization: isMemberOfIdArg,
    linkInvitePreview: allow,
  },
  Mutation: {
    createOrganization: isAuthenticated,
    joinOrganizationWithInvite: isAuthenticated,
    inviteUsersToOrganization: isAdminOfArgOrg,
    revokeInvite: isAdminOfArgOrg,
    createLinkInvite: isAdminOfArgOrg,
    updateLinkInvite: isAdminOfArgOrg,
    revokeLinkInvite: isAdminOfArgOrg,
  },
  User: {
    id: allow,
    email: allow,
    displayName: allow,
    organizations: allow,
    pendingInvites: isSelf,
  },
  Organization: {
    id: allow,
    title: allow,
    createdAt: allow,
    viewerRole: allow,
    members: isMemberOfParentOrg,
    invites: isAdminOfParentOrg,
    linkInvites: isAdminOfParentOrg,
    linkInvite: isAdminOfParentOrg,
  },
  ...Object.fromEntries(PAYLOAD_TYPES.map((type) => [type, allow])),
};

export const permissions = shield(ruleTree, {
  fallbackRule: deny,
  fallbackError: () => forbidden(),
  // Errors thrown by resolvers pass through to Yoga (and its masking) instead of turning into
  // denials; expected domain outcomes are results, not errors.
  allowExternalErrors: true,
  debug: false,
});
