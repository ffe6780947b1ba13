import { createHash, randomBytes } from "node:crypto";

/** 128 random bits, base64url (22 characters): ids that are also secrets (invites, links). */
export function newSecretId(): string {
  return randomBytes(16).toString("base64url");
}

const TOKEN_PREFIX = "igw_";

/** An API token: 256 random bits. Only its hash is stored. */
export function newApiToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
