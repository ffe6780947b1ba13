import { authenticateToken, userForJwtIdentity, type Viewer } from "./domain/users.js";
import type { PrismaClient } from "./generated/prisma/client.js";
import { unauthenticated } from "./graphql-errors.js";
import { JwtRejected, type JwtVerifier, looksLikeJwt } from "./jwt.js";

/**
 * The viewer of one request, from its Authorization header. No header: anonymous (null). A bearer
 * token is a JWT from the identity provider (when JWT mode is on) or an API token; anything that
 * does not verify is rejected, never treated as anonymous.
 */
export async function viewerFromRequest(
  db: PrismaClient,
  request: Request,
  verifyJwt: JwtVerifier | null,
): Promise<Viewer | null> {
  const header = request.headers.get("authorization");
  if (header === null || header.trim() === "") return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthenticated("The Authorization header must be `Bearer <token>`", { httpStatus: 401 });
  const token = match[1];
  if (verifyJwt && looksLikeJwt(token)) {
    try {
      return await userForJwtIdentity(db, await verifyJwt(token));
    } catch (error) {
      if (error instanceof JwtRejected) throw unauthenticated(error.message, { httpStatus: 401 });
      throw error;
    }
  }
  const result = await authenticateToken(db, token);
  if (!result.ok) throw unauthenticated(result.reason, { httpStatus: 401 });
  return result.viewer;
}
