import { builder } from "../builder.js";

/**
 * One change in an organization's audit log. Not an entity: it is reachable only through
 * `Organization.auditLog` (admins). `actor` is a User and obeys the User rules.
 */
export const AuditEventRef = builder.prismaObject("AuditEvent", {
  description: "A change in an organization, recorded in the same transaction as the change.",
  fields: (t) => ({
    id: t.exposeID("id"),
    action: t.exposeString("action", {
      description:
        "invite.created, invite.refreshed, invite.revoked, invite.accepted, link.created, link.updated, link.revoked, link.used or member.joined_by_domain.",
    }),
    actor: t.relation("actor", { nullable: true, description: "Who made the change; null once that user is deleted." }),
    targetId: t.exposeID("targetId", {
      nullable: true,
      description: "The invite's or the link's id; the joining user's id for member.joined_by_domain.",
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});
