import { hashToken } from "../domain/ids.js";
import { authenticateToken, onTokenRevoked, userForJwtIdentity, type Viewer } from "../domain/users.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import { unauthenticated } from "../graphql/errors.js";
import { JwtRejected, type JwtVerifier, looksLikeJwt } from "./jwt.js";

/**
 * The token of an `Authorization` header: null when there is none (anonymous), undefined when it is
 * not `Bearer <token>` (the scheme in any case, any whitespace around it). The one reading of the
 * header: authentication and the request rate limit (src/http/plugins/rate-limit.ts) agree on who is calling.
 */
export function bearerToken(header: string | null): string | null | undefined {
  if (header === null || header.trim() === "") return null;
  return /^\s*Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/**
 * The viewer of one request, from its Authorization header. No header: anonymous (null). A bearer
 * token is a JWT from the identity provider (when JWT mode is on) or an API token; anything that
 * does not verify is rejected, never treated as anonymous.
 */
export async function viewerFromRequest(
  db: PrismaClient,
  request: Request,
  verifyJwt: JwtVerifier | null,
  cache?: AuthCache,
): Promise<Viewer | null> {
  const token = bearerToken(request.headers.get("authorization"));
  if (token === null) return null;
  if (token === undefined)
    throw unauthenticated("The Authorization header must be `Bearer <token>`", { httpStatus: 401 });
  if (verifyJwt && looksLikeJwt(token)) {
    try {
      const identity = await verifyJwt(token);
      return { ...(await userForJwtIdentity(db, identity)), expiresAt: identity.expiresAt ?? null };
    } catch (error) {
      if (error instanceof JwtRejected) throw unauthenticated(error.message, { httpStatus: 401 });
      throw error;
    }
  }
  const cached = cache?.get(hashToken(token));
  if (cached) return cached;
  const result = await authenticateToken(db, token);
  if (!result.ok) throw unauthenticated(result.reason, { httpStatus: 401 });
  cache?.set(result.tokenHash, result.viewer, result.expiresAt);
  return result.viewer;
}

/** The viewer of a request, authenticated at most once per request (see createAuthenticator). */
export type Authenticate = (request: Request) => Promise<Viewer | null>;

/**
 * viewerFromRequest, memoized per Request: the request rate limit (src/http/plugins/rate-limit.ts), which must know
 * whether a token verifies, and the context factory share one lookup and one answer (a rejection
 * is the same error both times).
 */
export function createAuthenticator(db: PrismaClient, verifyJwt: JwtVerifier | null, cache?: AuthCache): Authenticate {
  const viewers = new WeakMap<Request, Promise<Viewer | null>>();
  return (request) => {
    let viewer = viewers.get(request);
    if (!viewer) {
      viewer = viewerFromRequest(db, request, verifyJwt, cache);
      viewers.set(request, viewer);
    }
    return viewer;
  };
}

/**
 * API token hash -> viewer, for a few seconds (AUTH_CACHE_TTL, default 5 s), at most `maxEntries`
 * (least recently used first out). Only accepted tokens are kept, never past their own expiry.
 * A revocation in this process removes its token at once (onTokenRevoked); one made by another
 * process arrives through PostgreSQL's NOTIFY (src/auth/revocations.ts), and the cache is only used
 * while that subscription is up (`active`). Should a notification still be missed, a revoked token
 * is accepted at most `ttlMs` longer.
 */
export interface AuthCache {
  get(tokenHash: string): Viewer | undefined;
  set(tokenHash: string, viewer: Viewer, tokenExpiresAt: Date | null): void;
  delete(tokenHash: string): void;
  clear(): void;
  /** false: every lookup misses (and nothing is kept) until set back to true. */
  active: boolean;
  readonly size: number;
  close(): void;
}

export function createAuthCache(options: { ttlMs: number; maxEntries: number; active?: boolean }): AuthCache {
  const entries = new Map<string, { viewer: Viewer; until: number }>();
  let active = options.active ?? true;
  const stopListening = onTokenRevoked((tokenHash) => entries.delete(tokenHash));
  return {
    get(tokenHash) {
      if (!active) return undefined;
      const entry = entries.get(tokenHash);
      if (!entry) return undefined;
      entries.delete(tokenHash);
      if (entry.until <= Date.now()) return undefined;
      entries.set(tokenHash, entry); // most recently used last
      return entry.viewer;
    },
    set(tokenHash, viewer, tokenExpiresAt) {
      if (!active) return;
      const until = Math.min(Date.now() + options.ttlMs, tokenExpiresAt?.getTime() ?? Number.POSITIVE_INFINITY);
      entries.delete(tokenHash);
      entries.set(tokenHash, { viewer: Object.freeze({ ...viewer }), until });
      if (entries.size > options.maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    delete: (tokenHash) => {
      entries.delete(tokenHash);
    },
    clear: () => entries.clear(),
    get active() {
      return active;
    },
    set active(value: boolean) {
      active = value;
      entries.clear();
    },
    get size() {
      return entries.size;
    },
    close() {
      stopListening();
      entries.clear();
    },
  };
}
