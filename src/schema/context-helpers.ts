import { GraphQLError } from "graphql";
import type { Context } from "../builder.js";
import type { Viewer } from "../domain/users.js";

/** Shield already denied anonymous callers; this keeps a missing rule from becoming a crash. */
export function requireViewer(ctx: Context): Viewer {
  if (!ctx.viewer) throw new GraphQLError("Sign in to do this", { extensions: { code: "UNAUTHENTICATED" } });
  return ctx.viewer;
}
