import { z } from "zod";
import type { Member, Organization, PrismaClient } from "../generated/prisma/client.js";
import { actorOf, recordAuditEvents } from "./audit.js";
import { AlreadyMemberError, DomainNotAllowedError } from "./errors.js";
import { inTransaction, prismaErrorCode } from "./tx.js";
import { currentEmail, type Viewer } from "./users.js";
import { idSchema, parse } from "./validation.js";

/** At most this many allowed domains per organization. */
export const MAX_ALLOWED_DOMAINS = 50;

/**
 * A host name (RFC 1123 labels): 1 to 63 letters, digits or hyphens per label, no hyphen at either
 * end, at least two labels, at most 253 characters, and a top-level label that is not all digits
 * (an IPv4 address is not a domain). Trimmed and lower-cased; a trailing dot is not accepted.
 */
const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOST_NAME = new RegExp(`^(?:${LABEL}\\.)+${LABEL}$`);

export const domainSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(253, "must be at most 253 characters")
  .refine((d) => HOST_NAME.test(d) && !/^[0-9]+$/.test(d.slice(d.lastIndexOf(".") + 1)), {
    message: "must be a host name such as example.com",
  });

const domainsSchema = z
  .array(domainSchema)
  .max(MAX_ALLOWED_DOMAINS, `at most ${MAX_ALLOWED_DOMAINS} domains`)
  .transform((domains) => [...new Set(domains)]);

/** The domain of an email address, lower-cased ("" when it has none). */
export function emailDomain(email: string): string {
  const at = email.lastIndexOf("@");
  return at < 0
    ? ""
    : email
        .slice(at + 1)
        .trim()
        .toLowerCase();
}

/**
 * Replaces the organization's allowed email domains (admins; the shield rule checks that). Domains
 * are trimmed, lower-cased and deduplicated; one that is not a host name fails the whole call with
 * a VALIDATION error and writes nothing. An empty list turns joining by domain off.
 */
export async function updateOrganizationDomains(
  db: PrismaClient,
  args: { organizationId: string; domains: string[] },
): Promise<Organization> {
  parse(idSchema, args.organizationId, ["organizationId"]);
  const allowedDomains = parse(domainsSchema, args.domains, ["domains"]);
  return inTransaction(db, (tx) =>
    tx.organization.update({ where: { id: args.organizationId }, data: { allowedDomains } }),
  );
}

const NOT_ALLOWED = "Your email domain does not allow you to join this organization";

/**
 * Joins the viewer to an organization as READ when their email is verified and its domain is one of
 * the organization's allowed domains, exactly (a subdomain does not match). Membership is checked
 * first (ALREADY_MEMBER). An organization that does not exist answers exactly as one that does not
 * allow the domain (DOMAIN_NOT_ALLOWED, same message): a caller learns nothing about which
 * organizations exist. One transaction with the audit event `member.joined_by_domain`; a concurrent
 * join of the same user loses on the membership's primary key and answers ALREADY_MEMBER.
 */
export async function joinOrganizationByDomain(
  db: PrismaClient,
  viewer: Viewer,
  args: { organizationId: string },
): Promise<Member> {
  const organizationId = parse(idSchema, args.organizationId, ["organizationId"]);
  try {
    return await inTransaction(db, async (tx) => {
      const existing = await tx.member.findUnique({
        where: { organizationId_userId: { organizationId, userId: viewer.id } },
        select: { role: true },
      });
      if (existing) throw new AlreadyMemberError();
      const { email, emailVerified } = await currentEmail(tx, viewer);
      if (!email || !emailVerified) {
        throw new DomainNotAllowedError("Joining by email domain needs a verified email address");
      }
      const domain = emailDomain(email);
      const org = await tx.organization.findFirst({
        where: { id: organizationId, allowedDomains: { has: domain } },
        select: { id: true },
      });
      if (!org || domain === "") throw new DomainNotAllowedError(NOT_ALLOWED);
      const member = await tx.member.create({ data: { organizationId, userId: viewer.id, role: "READ" } });
      await recordAuditEvents(tx, organizationId, actorOf(viewer), [
        { action: "member.joined_by_domain", targetId: viewer.id },
      ]);
      return member;
    });
  } catch (error) {
    // A concurrent join of the same user won the membership's primary key.
    if (prismaErrorCode(error) === "P2002") throw new AlreadyMemberError();
    throw error;
  }
}
