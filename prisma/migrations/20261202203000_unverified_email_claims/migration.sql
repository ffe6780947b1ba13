-- An email claim that is not verified never holds the address (CONTRACT.md, Authentication).
-- Before this rule, a JWT whose `email_verified` was not true made a user holding the claimed address
-- when it was free. Such users give the address up: their email becomes null, a placeholder user
-- (no subject, no token, no membership, unverified: what an invite makes for an unknown address)
-- holds it instead, and the invites to the address that were not accepted move to the placeholder.
-- Their memberships (joined through links; an email invite needed a verified address) stay theirs.
CREATE TABLE "_UnverifiedEmailClaim" AS
  SELECT "id", "email" FROM "User"
  WHERE "jwtSubject" IS NOT NULL AND "emailVerified" = false AND "email" IS NOT NULL;

UPDATE "User" SET "email" = NULL, "updatedAt" = CURRENT_TIMESTAMP
  WHERE "id" IN (SELECT "id" FROM "_UnverifiedEmailClaim");

INSERT INTO "User" ("id", "email", "emailVerified", "createdAt", "updatedAt")
  SELECT gen_random_uuid()::text, "email", false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
  FROM "_UnverifiedEmailClaim";

UPDATE "Invite" i SET "userId" = p."id"
  FROM "_UnverifiedEmailClaim" c JOIN "User" p ON p."email" = c."email"
  WHERE i."userId" = c."id" AND i."email" = c."email" AND i."status" <> 'ACCEPTED';

DROP TABLE "_UnverifiedEmailClaim";
