import { createPublicKey, type KeyObject } from "node:crypto";
import type { JWTPayload } from "jose";
import type { JwtConfig } from "../config.js";
import { emailSchema } from "../domain/validation.js";

/** Only asymmetric algorithms: `none` and HS256 (e.g. signed with our public key) never verify. */
export const JWT_ALGORITHMS = ["RS256", "ES256"];

export interface JwtIdentity {
  subject: string;
  email: string | null;
  emailVerified: boolean;
  /** The JWT's `exp`. */
  expiresAt?: Date;
}

export type JwtVerifier = (token: string) => Promise<JwtIdentity>;

export class JwtRejected extends Error {}

type Jose = typeof import("jose");

/**
 * Verifies identity-provider JWTs with jose: signature (a JWKS, cached and re-fetched when a token
 * names an unknown `kid`, or one SPKI key), `iss`, `aud`, `exp`/`nbf`, and the algorithm.
 */
export function createJwtVerifier(config: JwtConfig): JwtVerifier {
  const { keys } = config;
  // jose is loaded with the first JWT to verify: a process without JWT sign-in never loads it
  // (about 0.8 MB of heap, bench/results/memory-2026-12-03.md). The PEM was checked by src/config.ts.
  let loaded: Promise<{ jose: Jose; key: KeyObject | ReturnType<Jose["createRemoteJWKSet"]> }> | undefined;
  const load = () =>
    (loaded ??= import("jose").then((jose) => ({
      jose,
      key:
        keys.kind === "jwks"
          ? jose.createRemoteJWKSet(new URL(keys.url), { cooldownDuration: keys.cooldownMs, timeoutDuration: 5_000 })
          : createPublicKey(keys.pem),
    })));
  return async (token) => {
    const { jose, key } = await load();
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, key as KeyObject, {
        algorithms: JWT_ALGORITHMS,
        issuer: config.issuer,
        audience: config.audience,
        requiredClaims: ["sub", "exp"],
        clockTolerance: 5,
      }));
    } catch (error) {
      throw new JwtRejected(reason(jose.errors, error));
    }
    const email = emailClaim(payload.email);
    return {
      subject: payload.sub as string,
      email,
      emailVerified: payload.email_verified === true,
      expiresAt: new Date((payload.exp as number) * 1000),
    };
  };
}

/**
 * The `email` claim as an address: trimmed, its ASCII letters lower-cased; null when it is not a
 * valid address of printable ASCII. Unicode case folding is not used: it maps other characters onto
 * ASCII ones (U+212A KELVIN SIGN lower-cases to "k"), so `\u212Aarl@example.com` would stand for
 * karl@example.com, someone else's address.
 */
export function emailClaim(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const trimmed = value.trim();
  if (!/^[\x21-\x7e]+$/.test(trimmed)) return null;
  const folded = trimmed.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
  return emailSchema.safeParse(folded).success ? folded : null;
}

function reason(errors: Jose["errors"], error: unknown): string {
  if (error instanceof errors.JWTExpired) return "The JWT has expired";
  if (error instanceof errors.JWTClaimValidationFailed) return `The JWT's "${error.claim}" claim is not accepted`;
  if (error instanceof errors.JWKSNoMatchingKey) return "The JWT is signed with an unknown key";
  if (error instanceof errors.JOSEAlgNotAllowed) return "The JWT's algorithm is not accepted";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "The JWT's signature is invalid";
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JOSEError) return "The JWT could not be verified";
  return "The JWT could not be verified";
}

/** A compact JWS: three base64url parts. API tokens (`igw_...`) never contain dots. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
