import { z } from "zod";
import type { PrismaClient, User } from "../generated/prisma/client.js";
import { NotFoundError } from "./errors.js";
import { hashToken, newApiToken } from "./ids.js";
import { inTransaction, type Tx } from "./tx.js";
import { normalizeEmail, parse, storableText } from "./validation.js";

const displayNameSchema = storableText(z.string().trim().max(200, "name must be at most 200 characters"));

/** `User.organizations` lists at most this many memberships (newest first). */
export const MAX_LISTED_ORGANIZATIONS = 100;
/** `User.pendingInvites` lists at most this many invites (newest first). */
export const MAX_LISTED_PENDING_INVITES = 100;

/** Who is calling: resolved once per request from the bearer token. */
export interface Viewer {
  id: string;
  email: string | null;
  emailVerified: boolean;
  /** The API token of this request; null for JWT callers. */
  tokenId: string | null;
  /** The JWT subject (`sub`) of this request; null for API-token callers. */
  subject: string | null;
  /** When the request's credential expires (a JWT's `exp`, an API token's expiry); absent: never. */
  expiresAt?: Date | null;
}

/** A token's row joined to its user, from one statement. */
interface TokenRow {
  id: string;
  tokenHash: string;
  revoked: boolean;
  expired: boolean;
  expiresAt: Date | null;
  userId: string;
  email: string | null;
  emailVerified: boolean;
}

export type TokenAuthResult =
  | { ok: true; viewer: Viewer; tokenHash: string; expiresAt: Date | null }
  | { ok: false; reason: string };

/**
 * Looks a bearer token up by its hash, joined to its user in one statement. Revoked, expired or
 * unknown tokens are rejected.
 */
export async function authenticateToken(db: PrismaClient, token: string, now = new Date()): Promise<TokenAuthResult> {
  // The token itself is never compared, here or in the database: it is found by its SHA-256, so
  // what the index lookup's timing could reveal is about hashes the caller chose, not the token.
  const tokenHash = hashToken(token);
  const rows = await db.$queryRaw<TokenRow[]>`
    SELECT t."id", t."tokenHash", t."revokedAt" IS NOT NULL AS "revoked",
           (t."expiresAt" IS NOT NULL AND t."expiresAt" <= ${now}) AS "expired", t."expiresAt",
           u."id" AS "userId", u."email", u."emailVerified"
    FROM "ApiToken" t JOIN "User" u ON u."id" = t."userId"
    WHERE t."tokenHash" = ${tokenHash}`;
  const row = rows[0];
  if (!row) return { ok: false, reason: "Invalid API token" };
  if (row.revoked) return { ok: false, reason: "API token has been revoked" };
  if (row.expired) return { ok: false, reason: "API token has expired" };
  return {
    ok: true,
    viewer: { id: row.userId, email: row.email, emailVerified: row.emailVerified, tokenId: row.id, subject: null },
    tokenHash,
    expiresAt: row.expiresAt === null ? null : new Date(row.expiresAt),
  };
}

/**
 * Revocations, for caches of authenticated tokens (src/auth/tokens.ts): listeners in this process hear of
 * every revocation made in it; other processes hear of it through PostgreSQL's NOTIFY on
 * TOKEN_REVOKED_CHANNEL (the payload is the token's hash), sent in the revoking transaction.
 */
export const TOKEN_REVOKED_CHANNEL = "igw_token_revoked";
const revocationListeners = new Set<(tokenHash: string) => void>();

export function onTokenRevoked(listener: (tokenHash: string) => void): () => void {
  revocationListeners.add(listener);
  return () => revocationListeners.delete(listener);
}

/**
 * Creates a user with a verified email (the operator vouches for it) and a first API token. A user
 * that exists already (e.g. created by an invite) is marked verified and gets a new token.
 */
export async function createUserWithToken(
  db: PrismaClient,
  input: { email: string; name?: string | undefined },
): Promise<{ user: User; token: string }> {
  const email = normalizeEmail(input.email);
  const displayName = input.name?.trim() ? parse(displayNameSchema, input.name, ["name"]) : undefined;
  const token = newApiToken();
  const user = await inTransaction(
    db,
    async (tx) => {
      // The operator vouches for the address: never for a user who merely claimed it (a subject
      // without a verified email; none holds an address since the rule, this is a second fence).
      const claimant = await tx.user.findFirst({
        where: { email, emailVerified: false, jwtSubject: { not: null } },
        select: { id: true },
      });
      if (claimant) {
        await tx.user.update({ where: { id: claimant.id }, data: { email: null } });
      }
      const user = await tx.user.upsert({
        where: { email },
        create: { email, displayName: displayName ?? null, emailVerified: true },
        update: { emailVerified: true, ...(displayName ? { displayName } : {}) },
      });
      if (claimant) {
        await tx.invite.updateMany({
          where: { userId: claimant.id, email, status: "PENDING" },
          data: { userId: user.id },
        });
      }
      await tx.apiToken.create({ data: { userId: user.id, tokenHash: hashToken(token) } });
      return user;
    },
    { retries: 2 },
  );
  return { user, token };
}

export async function createToken(
  db: PrismaClient,
  input: { email: string; expiresInMs?: number | undefined },
  now = new Date(),
): Promise<{ token: string; expiresAt: Date | null }> {
  const email = normalizeEmail(input.email);
  const user = await db.user.findUnique({ where: { email }, select: { id: true } });
  if (!user) throw new NotFoundError(`No user with email ${email}`);
  const token = newApiToken();
  const expiresAt = input.expiresInMs ? new Date(now.getTime() + input.expiresInMs) : null;
  await db.apiToken.create({ data: { userId: user.id, tokenHash: hashToken(token), expiresAt } });
  return { token, expiresAt };
}

/** Revokes a token; revoking a revoked token is harmless. Unknown tokens are NotFound. */
export async function revokeToken(db: PrismaClient, token: string, now = new Date()): Promise<void> {
  const tokenHash = hashToken(token);
  const found = await db.apiToken.findUnique({ where: { tokenHash }, select: { id: true, revokedAt: true } });
  if (!found) throw new NotFoundError("No such token");
  if (!found.revokedAt) {
    await db.$transaction([
      db.apiToken.update({ where: { tokenHash }, data: { revokedAt: now } }),
      db.$executeRaw`SELECT pg_notify(${TOKEN_REVOKED_CHANNEL}, ${tokenHash})`,
    ]);
  }
  // Also when it was revoked already: a cache must never hold a revoked token.
  for (const listener of revocationListeners) listener(tokenHash);
}

/**
 * Who may hold an email address (the `email` column): a person who proved it, or a placeholder.
 * Proof is the operator's word (`cli user create`) or an identity provider's token saying
 * `email_verified: true`. A placeholder is the row an invite made for an unknown address: no JWT
 * subject, no token, no membership, unverified. An email claim that is not verified never holds
 * the address (its user's email stays null, and so does `viewer.email`): invites to the address
 * would reach that user, the CLI would vouch for that user, and a verified sign-in for the address
 * would find it taken.
 *
 * PENDING invites follow the address: their `userId` is whoever holds their email now (see
 * `releaseEmail` and `claimVerifiedEmail`), so `viewer.pendingInvites` only ever lists invites sent
 * to the viewer's own, proven address.
 */

/**
 * A subject's user whose token now says its email is verified takes that email: free, or held only
 * by a placeholder, whose invites move over. An email held by anyone else stays theirs. The user's
 * previous address, if any, is released (its PENDING invites go to a new placeholder).
 */
async function claimVerifiedEmail(db: PrismaClient, userId: string, email: string) {
  const select = { id: true, email: true, emailVerified: true } as const;
  return inTransaction(
    db,
    async (tx) => {
      const holder = await tx.user.findUnique({
        where: { email },
        select: {
          id: true,
          emailVerified: true,
          jwtSubject: true,
          _count: { select: { tokens: true, memberships: true } },
        },
      });
      const placeholder =
        holder &&
        holder.id !== userId &&
        !holder.emailVerified &&
        holder.jwtSubject === null &&
        holder._count.tokens === 0 &&
        holder._count.memberships === 0;
      if (holder && holder.id !== userId && !placeholder)
        return tx.user.findUniqueOrThrow({ where: { id: userId }, select });
      const previous = await tx.user.findUniqueOrThrow({ where: { id: userId }, select: { email: true } });
      if (placeholder) {
        await tx.invite.updateMany({ where: { userId: holder.id }, data: { userId } });
        await tx.user.delete({ where: { id: holder.id } });
      }
      const claimed = await tx.user.update({ where: { id: userId }, data: { email, emailVerified: true }, select });
      if (previous.email && previous.email !== email) await releaseEmail(tx, userId, previous.email);
      return claimed;
    },
    { retries: 2 },
  );
}

/**
 * `userId` no longer holds `email`: its PENDING invites to that address go to a new placeholder
 * for it (the address is free now), so that whoever proves the address next finds them.
 */
async function releaseEmail(tx: Tx, userId: string, email: string): Promise<void> {
  const pending = await tx.invite.count({ where: { userId, email, status: "PENDING" } });
  if (pending === 0) return;
  const placeholder = await tx.user.create({ data: { email }, select: { id: true } });
  await tx.invite.updateMany({ where: { userId, email, status: "PENDING" }, data: { userId: placeholder.id } });
}

/**
 * The user behind an identity-provider subject. Known subject: that user (taking the token's email
 * once the token says it is verified, see claimVerifiedEmail). Unknown subject with a verified
 * email: the user with that email when no other subject holds it, now linked to the subject.
 * Otherwise a new user, with the verified email if it is free; an unverified email claim is never
 * stored (the user's email is null until a token says it is verified).
 */
export async function userForJwtIdentity(
  db: PrismaClient,
  identity: { subject: string; email: string | null; emailVerified: boolean },
): Promise<Viewer> {
  const select = { id: true, email: true, emailVerified: true } as const;
  const verifiedEmail = identity.emailVerified ? identity.email : null;
  const known = await db.user.findUnique({ where: { jwtSubject: identity.subject }, select });
  if (known) {
    const upToDate = !verifiedEmail || (known.email === verifiedEmail && known.emailVerified);
    return {
      ...(upToDate ? known : await claimVerifiedEmail(db, known.id, verifiedEmail)),
      tokenId: null,
      subject: identity.subject,
    };
  }
  return inTransaction(
    db,
    async (tx) => {
      const byEmail = verifiedEmail
        ? await tx.user.findUnique({ where: { email: verifiedEmail }, select: { id: true, jwtSubject: true } })
        : null;
      if (verifiedEmail && byEmail && byEmail.jwtSubject === null) {
        const linked = await tx.user.update({
          where: { id: byEmail.id },
          data: { jwtSubject: identity.subject, emailVerified: true },
          select,
        });
        return { ...linked, tokenId: null, subject: identity.subject };
      }
      const email = verifiedEmail && !byEmail ? verifiedEmail : null;
      const created = await tx.user.create({
        data: { jwtSubject: identity.subject, email, emailVerified: email !== null },
        select,
      });
      return { ...created, tokenId: null, subject: identity.subject };
    },
    { retries: 2 },
  );
}

/**
 * The viewer's email and whether it is verified, read from its row in `tx`: the decisions that
 * depend on them (joining with an email invite, joining by domain) use the row as it is now, not the
 * request's viewer, which the token cache may have kept from before the email was verified (e.g. by
 * `cli user create` on an invited address) for up to AUTH_CACHE_TTL.
 */
export async function currentEmail(tx: Tx, viewer: Viewer): Promise<{ email: string | null; emailVerified: boolean }> {
  const row = await tx.user.findUnique({ where: { id: viewer.id }, select: { email: true, emailVerified: true } });
  return row ?? { email: null, emailVerified: false };
}
