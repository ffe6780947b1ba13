import { GraphQLError } from "graphql";
import { subscriberRefusal } from "../../domain/access.js";
import { AUDIT_ACTIONS } from "../../domain/audit.js";
import type { OutboxPayload } from "../../domain/outbox.js";
import { type MemberRole, ROLES_HIGHEST_FIRST } from "../../domain/roles.js";
import type { AuditEvent } from "../../generated/prisma/client.js";
import { builder, type Context } from "../builder.js";
import { forbidden, unauthenticated } from "../errors.js";
import { MemberRoleEnum } from "./member.js";

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
      description: "The invite's or the link's id (invite.*, link.*); the member's user id (member.*).",
    }),
    previousRole: t.field({
      type: MemberRoleEnum,
      nullable: true,
      description: "member.role_changed: the member's role before the change; null for other actions.",
      resolve: (event) => roleDetail(event.details, "previousRole"),
    }),
    role: t.field({
      type: MemberRoleEnum,
      nullable: true,
      description: "member.role_changed: the member's new role; null for other actions.",
      resolve: (event) => roleDetail(event.details, "role"),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

/** A role that an event's `details` names (member.role_changed), or null. */
function roleDetail(details: unknown, key: "previousRole" | "role"): MemberRole | null {
  if (typeof details !== "object" || details === null) return null;
  const role = (details as Record<string, unknown>)[key];
  return typeof role === "string" && (ROLES_HIGHEST_FIRST as readonly string[]).includes(role)
    ? (role as MemberRole)
    : null;
}

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
    details: event.details ?? null,
    createdAt: new Date(event.createdAt),
  };
}

/**
 * The organization's events for a standing subscriber, let through only while the viewer is still an
 * ADMIN and its credential still valid: checked on fresh rows (subscriberRefusal: one or two indexed
 * lookups) before each event, and, so that a stream without events does not outlive the access,
 * every SUBSCRIPTION_RECHECK_INTERVAL as well: one timer per stream, pushed back by each passed check,
 * cleared when the stream ends. When a check refuses, the refusal's error is the last item (its
 * `resolve` throws it) and the stream then completes. A periodic check that fails (the database
 * unreachable) is logged and tried again at the next tick; the stream stays open, as each event still
 * has to pass its own check to be delivered. Not an async generator: its `return()` would wait for the
 * next event, keeping the subscription open after the client left.
 */
function whileAdmin(ctx: Context, organizationId: string): AsyncIterableIterator<OutboxPayload | GraphQLError> {
  const events = ctx.events.subscribe(organizationId);
  const intervalMs = ctx.config.events.subscriptionRecheckMs;
  let ended = false;
  /** A periodic check's refusal, for the next `next()` to return. */
  let lost: GraphQLError | null = null;
  let lastPassed = Date.now();
  let timer: NodeJS.Timeout | undefined;

  const check = async (): Promise<GraphQLError | null> => {
    const refusal = await subscriberRefusal(ctx.db, ctx.viewer, organizationId, new Date());
    if (!refusal) {
      lastPassed = Date.now();
      return null;
    }
    ctx.log.info({ organizationId, refusal }, "organizationEvents ended: the subscriber is no longer allowed");
    return refusal === "FORBIDDEN"
      ? forbidden("You are no longer an admin of this organization")
      : unauthenticated("Your credential was revoked or has expired");
  };
  const end = async (): Promise<IteratorResult<OutboxPayload | GraphQLError>> => {
    ended = true;
    clearTimeout(timer);
    await events.return?.();
    return { done: true, value: undefined };
  };
  const schedule = (delayMs: number) => {
    timer = setTimeout(() => {
      tick().catch((error: unknown) =>
        ctx.log.warn({ err: error, organizationId }, "organizationEvents: ending a refused stream failed"),
      );
    }, delayMs);
    // An open stream holds its socket anyway; its timer alone must not keep the process alive.
    timer.unref();
  };
  const tick = async () => {
    const wait = lastPassed + intervalMs - Date.now();
    if (wait > 0) return schedule(wait);
    try {
      lost = await check();
    } catch (error) {
      ctx.log.warn(
        { err: error, organizationId },
        "organizationEvents: access recheck failed; tried again at the next tick",
      );
    }
    if (ended) return;
    if (!lost) return schedule(intervalMs);
    // Wakes a next() waiting for an event (it resolves done): that next() returns `lost`.
    await events.return?.();
  };
  schedule(intervalMs);

  return {
    async next() {
      if (ended) return { done: true, value: undefined };
      const result = await events.next();
      if (ended || (result.done && !lost)) return end();
      const error = lost ?? (await check());
      if (!error) return result;
      await end();
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
      "checked when the subscription starts, before each event, and periodically in between (every " +
      "minute by default): once the caller is no longer an admin (FORBIDDEN) or its token was revoked " +
      "or expired (UNAUTHENTICATED), that error is the last message and the stream ends. Delivered at " +
      "least once: deduplicate on `id`.",
    args: { organizationId: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx) => whileAdmin(ctx, args.organizationId),
    resolve: (event: OutboxPayload | GraphQLError) => {
      if (event instanceof GraphQLError) throw event;
      return asAuditEvent(event);
    },
  }),
);
