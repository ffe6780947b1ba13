import { builder } from "../builder.js";
import { AUDIT_ACTIONS } from "../domain/audit.js";
import type { OutboxPayload } from "../domain/outbox.js";
import type { AuditEvent } from "../generated/prisma/client.js";

/**
 * One change in an organization's audit log. Not an entity: it is reachable only through
 * `Organization.auditLog` and `Subscription.organizationEvents` (admins). `actor` is a User and obeys
 * the User rules.
 */
export const AuditEventRef = builder.prismaObject("AuditEvent", {
  description: "A change in an organization, recorded in the same transaction as the change.",
  fields: (t) => ({
    id: t.exposeID("id"),
    action: t.exposeString("action", {
      description: `One of ${AUDIT_ACTIONS.join(", ")}.`,
    }),
    actor: t.relation("actor", { nullable: true, description: "Who made the change; null once that user is deleted." }),
    targetId: t.exposeID("targetId", {
      nullable: true,
      description: "The invite's or the link's id; the joining user's id for member.joined_by_domain.",
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

/** A published outbox event as the AuditEvent row it copies (`actor` is loaded by its id when asked for). */
function asAuditEvent(event: OutboxPayload): AuditEvent {
  return {
    id: event.id,
    organizationId: event.organizationId,
    action: event.action,
    actorId: event.actorId,
    actorTokenId: null,
    actorSubject: null,
    targetId: event.targetId,
    createdAt: new Date(event.createdAt),
  };
}

builder.subscriptionField("organizationEvents", (t) =>
  t.field({
    type: AuditEventRef,
    description:
      "The organization's audit events as they commit, over SSE (`accept: text/event-stream`). Admins; " +
      "checked when the subscription starts. Delivered at least once: deduplicate on `id`.",
    args: { organizationId: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx) => ctx.events.subscribe(args.organizationId),
    resolve: (event: OutboxPayload) => asAuditEvent(event),
  }),
);
