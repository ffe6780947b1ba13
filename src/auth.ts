import { authenticateToken, type Viewer } from "./domain/users.js";
import type { PrismaClient } from "./generated/prisma/client.js";
import { unauthenticated } from "./graphql-errors.js";

/**
 * The viewer of one request, from its Authorization header. No header: anonymous (null). A header
 * that is not a valid, live bearer token is rejected (never treated as anonymous).
 */
export async function viewerFromRequest(db: PrismaClient, request: Request): Promise<Viewer | null> {
  const header = request.headers.get("authorization");
  if (header === null || header.trim() === "") return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthenticated("The Authorization header must be `Bearer <token>`", { httpStatus: 401 });
  const result = await authenticateToken(db, match[1]);
  if (!result.ok) throw unauthenticated(result.reason, { httpStatus: 401 });
  return result.viewer;
}
