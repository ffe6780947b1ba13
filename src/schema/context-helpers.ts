import type { Context } from "../builder.js";
import { type Actor, actorOf } from "../domain/audit.js";
import type { Viewer } from "../domain/users.js";
import { unauthenticated } from "../graphql-errors.js";

/** Shield already denied anonymous callers; this keeps a missing rule from becoming a crash. */
export function requireViewer(ctx: Context): Viewer {
  if (!ctx.viewer) throw unauthenticated();
  return ctx.viewer;
}

/** The viewer as the actor of a change (recorded in the audit log). */
export function requireActor(ctx: Context): Actor {
  return actorOf(requireViewer(ctx));
}
