import { GraphQLError } from "graphql";
import { builder, type Context } from "../builder.js";
import { subscriberRefusal } from "../domain/access.js";
import { AUDIT_ACTIONS } from "../domain/audit.js";
import type { OutboxPayload } from "../domain/outbox.js";
import type { AuditEvent } from "../generated/prisma/client.js";
import { forbidden, unauthenticated } from "../graphql-errors.js";

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

/**
 * The organization's events for a standing subscriber, each let through only after a fresh check
 * (subscriberRefusal: one or two indexed lookups, and events are rare) that the viewer is still an
 * ADMIN and its credential still valid. When it fails, the refusal's error is the last item (its
 * `resolve` throws it) and the stream then completes. Not an async generator: its `return()` would
 * wait for the next event, keeping the subscription open after the client left.
 */
function whileAdmin(ctx: Context, organizationId: string): AsyncIterableIterator<OutboxPayload | GraphQLError> {
  const events = ctx.events.subscribe(organizationId);
  let ended = false;
  const end = async (): Promise<IteratorResult<OutboxPayload | GraphQLError>> => {
    ended = true;
    await events.return?.();
    return { done: true, value: undefined };
  };
  return {
    async next() {
      if (ended) return { done: true, value: undefined };
      const result = await events.next();
      if (result.done || ended) return result.done ? result : end();
      const refusal = await subscriberRefusal(ctx.db, ctx.viewer, organizationId, new Date());
      if (!refusal) return result;
      await end();
      ctx.log.info({ organizationId, refusal }, "organizationEvents ended: the subscriber is no longer allowed");
      const error =
        refusal === "FORBIDDEN"
          ? forbidden("You are no longer an admin of this organization")
          : unauthenticated("Your credential was revoked or has expired");
      return { done: false, value: error };
    },
    return: end,
    async throw(error?: unknown) {
      await end();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

builder.subscriptionField("organizationEvents", (t) =>
  t.field({
    type: AuditEventRef,
    description:
      "The organization's audit events as they commit, over SSE (`accept: text/event-stream`). Admins; " +
      "checked when the subscription starts and again before each event: once the caller is no longer " +
      "an admin (FORBIDDEN) or its token was revoked or expired (UNAUTHENTICATED), that error is the " +
      "last message and the stream ends. Delivered at least once: deduplicate on `id`.",
    args: { organizationId: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx) => whileAdmin(ctx, args.organizationId),
    resolve: (event: OutboxPayload | GraphQLError) => {
      if (event instanceof GraphQLError) throw event;
      return asAuditEvent(event);
    },
  }),
);
