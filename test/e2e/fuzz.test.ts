/**
 * Property-based tests (fast-check) over hostile input to every mutation, through the real HTTP
 * handler: emails, roles, ids, dates, numbers, unicode (NUL, lone surrogates, RTL), huge strings up
 * to the body limit, and JSON values of the wrong type for every variable.
 *
 * For every case: no 5xx; a JSON GraphQL response with `data` or `errors`; top-level errors carry a
 * known extensions.code (never a masked crash, "Unexpected error."); a mutation result is its
 * Success type or an error of its own union; a failure (error result or top-level error) changes
 * no row of any table (a digest of every row); a success that changes an invite, link or
 * membership records audit events; and the invariants of the data hold after each case.
 *
 * FUZZ_SCALE multiplies the number of cases (default 1: a few thousand per database kind);
 * FUZZ_SEED replays a failing run (fast-check prints the seed and the shrunk counterexample).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/domain/errors.js";
import { inviteUsers } from "../../src/domain/invites.js";
import { createOrganization } from "../../src/domain/organizations.js";
import { createUserWithToken } from "../../src/domain/users.js";
import { useTestApp } from "../helpers/app.js";
import { DB_KINDS } from "../helpers/db.js";

const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const BODY_LIMIT = 1_000_000; // MAX_BODY_BYTES default

const TOP_LEVEL_CODES = new Set([
  "BAD_USER_INPUT",
  "BAD_REQUEST",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "REQUEST_ENTITY_TOO_LARGE", // Yoga: a body over MAX_BODY_BYTES (413)
]);

const ERR = "__typename ... on Error { code message } ... on ValidationError { issues { path message } }";
const LINK = "id kind role spaceId collectionId status uses maxUses expiresAt revokedAt organization { id }";

/** One document per mutation, every argument a variable; `errors`: the codes its union allows. */
const MUTATIONS = {
  createOrganization: {
    doc: `mutation ($input: CreateOrganizationInput!) { createOrganization(input: $input) {
      ${ERR} ... on CreateOrganizationSuccess { organization { id title viewerRole } } } }`,
    vars: ["input"],
    errors: ["VALIDATION", "RATE_LIMITED"],
  },
  inviteUsersToOrganization: {
    doc: `mutation ($o: ID!, $input: InviteUsersToOrganizationInput!) {
      inviteUsersToOrganization(organizationId: $o, input: $input) { ${ERR}
        ... on InviteUsersToOrganizationSuccess { invited alreadyMembers failedSSOEmails users { id email }
          invites { id email role sso status } } } }`,
    vars: ["o", "input"],
    errors: ["VALIDATION", "RATE_LIMITED"],
  },
  joinOrganizationWithInvite: {
    doc: `mutation ($o: ID!, $i: ID!) { joinOrganizationWithInvite(organizationId: $o, inviteId: $i) {
      ${ERR} ... on JoinOrganizationWithInviteSuccess { member { role organization { id } user { id } } } } }`,
    vars: ["o", "i"],
    errors: [
      "VALIDATION",
      "NOT_FOUND",
      "ALREADY_MEMBER",
      "INVITE_EXPIRED",
      "INVITE_REVOKED",
      "INVITE_USED_UP",
      "INVITE_ALREADY_ACCEPTED",
      "INVITE_EMAIL_MISMATCH",
    ],
  },
  revokeInvite: {
    doc: `mutation ($o: ID!, $i: ID!) { revokeInvite(organizationId: $o, inviteId: $i) {
      ${ERR} ... on RevokeInviteSuccess { invite { id status } } } }`,
    vars: ["o", "i"],
    errors: ["VALIDATION", "NOT_FOUND", "INVITE_ALREADY_ACCEPTED"],
  },
  createLinkInvite: {
    doc: `mutation ($o: ID!, $input: CreateLinkInviteInput!) { createLinkInvite(organizationId: $o, input: $input) {
      ${ERR} ... on CreateLinkInviteSuccess { linkInvite { ${LINK} } } } }`,
    vars: ["o", "input"],
    errors: ["VALIDATION"],
  },
  updateLinkInvite: {
    doc: `mutation ($o: ID!, $i: ID!, $input: UpdateLinkInviteInput!) {
      updateLinkInvite(organizationId: $o, inviteId: $i, input: $input) {
      ${ERR} ... on UpdateLinkInviteSuccess { linkInvite { ${LINK} } } } }`,
    vars: ["o", "i", "input"],
    errors: ["VALIDATION", "NOT_FOUND", "INVITE_REVOKED"],
  },
  revokeLinkInvite: {
    doc: `mutation ($o: ID!, $i: ID!) { revokeLinkInvite(organizationId: $o, inviteId: $i) {
      ${ERR} ... on RevokeLinkInviteSuccess { existed linkInvite { ${LINK} } } } }`,
    vars: ["o", "i"],
    errors: ["VALIDATION"],
  },
  updateOrganizationDomains: {
    doc: `mutation ($o: ID!, $domains: [String!]!) { updateOrganizationDomains(organizationId: $o, domains: $domains) {
      ${ERR} ... on UpdateOrganizationDomainsSuccess { organization { id allowedDomains } } } }`,
    vars: ["o", "domains"],
    errors: ["VALIDATION"],
  },
  joinOrganizationByDomain: {
    doc: `mutation ($o: ID!) { joinOrganizationByDomain(organizationId: $o) {
      ${ERR} ... on JoinOrganizationByDomainSuccess { member { role organization { id } user { id } } } } }`,
    vars: ["o"],
    errors: ["VALIDATION", "ALREADY_MEMBER", "DOMAIN_NOT_ALLOWED"],
  },
} as const;
type MutationName = keyof typeof MUTATIONS;
const MUTATION_NAMES = Object.keys(MUTATIONS) as MutationName[];

const ROLES = ["ADMIN", "CREATE", "EDIT", "REVIEW", "COMMENT", "READ", "GUEST"] as const;
const KINDS = ["ORGANIZATION", "SPACE", "COLLECTION"] as const;

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Characters that break naive code: NUL, lone surrogates, bidi controls, odd whitespace, ... */
const nastyChar = fc.constantFrom(
  "\u0000",
  "\ud800",
  "\udfff",
  "\u202e",
  "\u200f",
  "\u2066",
  "\u00a0",
  "\u3000",
  "\ufeff",
  "\u200b",
  "\t",
  "\n",
  "\r",
  "'",
  '"',
  "\\",
  "%",
  "_",
  "İ",
  "ß",
  "K", // Kelvin sign: lower-cases to ASCII "k"
  "👩‍👩‍👧",
  "ﷺ",
  "מנהל",
  "e\u0301",
);
const hugeString = fc.oneof(
  fc.integer({ min: 1_000, max: 60_000 }).map((n) => "x".repeat(n)),
  // Near the body limit (in UTF-8 bytes; the rest of the request is well under 1 kB).
  fc.integer({ min: BODY_LIMIT - 2_000, max: BODY_LIMIT + 2_000 }).map((n) => "y".repeat(n)),
  fc.integer({ min: 10_000, max: BODY_LIMIT / 2 - 1_000 }).map((n) => "é".repeat(n)),
  fc.constant("\u0000".repeat(50_000)),
);
const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ unit: "binary", maxLength: 40 }), weight: 4 },
  {
    arbitrary: fc.array(fc.oneof(nastyChar, fc.string({ maxLength: 4 })), { maxLength: 12 }).map((a) => a.join("")),
    weight: 6,
  },
  { arbitrary: fc.constantFrom("", " ", "null", "undefined", "0", "-1", "NaN", "true", "{}", "[]"), weight: 2 },
  {
    arbitrary: fc.constantFrom("' OR 1=1 --", "$1", "%00", "\\x00", "#{x}", "<script>", "../../etc/passwd"),
    weight: 1,
  },
  // A lone surrogate after a non-ASCII character: PGlite once failed to encode it (a masked crash).
  { arbitrary: fc.constantFrom("é\udfff", "\u3000\udfff", "a\u0000", "\u0000"), weight: 1 },
  { arbitrary: hugeString, weight: 1 },
);

/** Whatever JSON a client could send where a typed value is expected. */
const wrongType = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 3 }),
);

/** Emails known to the run: users seeded below (members and not) and strangers. */
const EMAIL_POOL = [
  "admin@fuzz.test",
  "member@fuzz.test",
  "outsider@fuzz.test",
  "other-admin@fuzz.test",
  "alice@example.com",
  "bob@example.org",
  "carol.o'neil@example.net",
  "dave+tag@example.co",
  "erin_x@sub.example.com",
];
const BULK_EMAILS = Array.from({ length: 103 }, (_, i) => `bulk${i}@example.com`);
const whitespace = fc.constantFrom("", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\ufeff", "\u2028");
/** A pooled email with its case changed and whitespace around: the same email once normalized. */
const pooledEmail = fc
  .tuple(fc.constantFrom(...EMAIL_POOL), fc.array(fc.boolean(), { maxLength: 40 }), whitespace, whitespace)
  .map(([email, upper, before, after]) => {
    const cased = [...email].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join("");
    return `${before}${cased}${after}`;
  });
const freshEmail = fc.stringMatching(/^[a-z][a-z0-9.]{0,10}[a-z0-9]@[a-z]{1,10}\.(com|org|io)$/);
const badEmail = fc.oneof(
  hostileString,
  fc.emailAddress(),
  fc.constantFrom(
    "a\u0000@example.com",
    "ä@example.com",
    "\u202eexample.com@x.com",
    "alice@example.com\u0000",
    "@example.com",
    "alice@",
    "alice@@example.com",
    "alice@example..com",
    `${"a".repeat(64)}@${"b".repeat(185)}.com`, // 254 characters
    `${"a".repeat(64)}@${"b".repeat(186)}.com`, // 255
    `${"a".repeat(300)}@example.com`,
  ),
);
const email = fc.oneof(
  { arbitrary: pooledEmail, weight: 5 },
  { arbitrary: freshEmail, weight: 2 },
  { arbitrary: badEmail, weight: 2 },
);
const role = fc.oneof({ arbitrary: fc.constantFrom(...ROLES), weight: 8 }, { arbitrary: hostileString, weight: 1 });
const optional = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: arb, weight: 4 }, fc.constant(undefined), fc.constant(null));

const emailList = fc.oneof(
  { arbitrary: fc.array(email, { maxLength: 8 }), weight: 8 },
  { arbitrary: fc.constant([]), weight: 1 },
  // Around the limit of 100 distinct emails per call (a fixed set: refreshed, not piling up).
  { arbitrary: fc.shuffledSubarray(BULK_EMAILS, { minLength: 98, maxLength: 103 }), weight: 1 },
  // Many entries, few distinct emails.
  { arbitrary: fc.array(pooledEmail, { minLength: 101, maxLength: 150 }), weight: 1 },
);
const inviteInput = fc.record(
  {
    emails: optional(emailList),
    invitees: optional(fc.array(fc.record({ email, role }), { maxLength: 6 })),
    role: optional(role),
    sso: optional(fc.boolean()),
  },
  { requiredKeys: [] },
);

const pad = (n: number, width: number) => String(n).padStart(width, "0");
/** ISO 8601 with a four-digit year, any year 0000-9999 (what the DateTime scalar's pattern admits). */
const fourDigitYearDate = fc
  .record({
    year: fc.integer({ min: 0, max: 9999 }),
    month: fc.integer({ min: 0, max: 13 }),
    day: fc.integer({ min: 0, max: 32 }),
    hour: fc.integer({ min: 0, max: 25 }),
    zone: fc.constantFrom("Z", "+00:00", "+14:00", "-12:00", "+01:00", "+99:99", ""),
  })
  .map((d) => `${pad(d.year, 4)}-${pad(d.month, 2)}-${pad(d.day, 2)}T${pad(d.hour, 2)}:00:00${d.zone}`);
const dateString = fc.oneof(
  // Past, now-ish and future instants, as clients send them.
  fc
    .integer({ min: -400 * 86_400_000, max: 400 * 86_400_000 })
    .map((offset) => new Date(Date.now() + offset).toISOString()),
  // Anything JavaScript can represent, six-digit and negative years included.
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toISOString()),
  fourDigitYearDate,
  fc.constantFrom(
    "9999-12-31T23:59:59.999Z",
    "+275760-09-13T00:00:00.000Z",
    "-271821-04-20T00:00:00.000Z",
    "0000-01-01T00:00:00Z",
    "0000-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
    "2030-02-30T00:00:00Z",
    "2030-01-01T24:00:00Z",
    "2030-01-01T00:00:00",
    "2030-01-01",
    "2030-01-01T00:00:00.123456789Z",
    "Invalid Date",
  ),
  hostileString,
);
const dateValue = fc.oneof(
  { arbitrary: dateString, weight: 8 },
  { arbitrary: fc.oneof(fc.integer(), fc.double(), fc.boolean()), weight: 1 },
);
const intValue = fc.oneof(
  fc.integer({ min: -3, max: 12 }),
  fc.integer(),
  fc.constantFrom(0, -1, 1, 1_000_000, 1_000_001, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, 1e308),
  fc.double(),
  fc.constantFrom(1.5, -0, 0.1, 1e-7),
  fc.constantFrom("5", "1e3", "0x10", ""),
);
const kindValue = fc.oneof(
  { arbitrary: fc.constantFrom(...KINDS), weight: 8 },
  { arbitrary: hostileString, weight: 1 },
);
const targetId = fc.oneof(
  { arbitrary: fc.constantFrom("space-1", "col-1", "  padded  ", "x".repeat(200), "x".repeat(201)), weight: 2 },
  { arbitrary: hostileString, weight: 2 },
);
/** A link that could be created (so that successes, and links to update and join, are common). */
const plausibleLinkInput = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    role: fc.constantFrom("ADMIN", "CREATE", "EDIT", "REVIEW", "COMMENT", "READ"),
    target: fc.constantFrom("space-1", "col-1", "t-2"),
    expiresAt: optional(fc.integer({ min: 60_000, max: 10 * 365 * 86_400_000 })),
    maxUses: optional(fc.integer({ min: 1, max: 3 })),
  })
  .map(({ kind, target, expiresAt, ...rest }) => ({
    ...rest,
    kind,
    ...(kind === "SPACE" ? { spaceId: target } : kind === "COLLECTION" ? { collectionId: target } : {}),
    ...(expiresAt != null ? { expiresAt: new Date(Date.now() + expiresAt).toISOString() } : {}),
  }));
const hostileLinkInput = fc.record(
  {
    kind: optional(kindValue),
    role,
    spaceId: optional(targetId),
    collectionId: optional(targetId),
    expiresAt: optional(dateValue),
    maxUses: optional(intValue),
  },
  { requiredKeys: [] },
);
const createLinkInput = fc.oneof(plausibleLinkInput, hostileLinkInput);
const updateLinkInput = fc.record(
  { role: optional(role), expiresAt: optional(dateValue), maxUses: optional(intValue) },
  { requiredKeys: [] },
);

/** An allowed-domain entry: the fuzz users' own domain (so joins succeed), valid, near-valid or hostile. */
const domainValue = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      "fuzz.test",
      " FUZZ.Test ",
      "sub.fuzz.test",
      "example.com",
      "localhost",
      "10.0.0.1",
      "*.fuzz.test",
      "a..b",
      "-a.com",
      "fuzz.test.",
      "xn--bcher-kva.ch",
    ),
    weight: 4,
  },
  { arbitrary: fc.domain(), weight: 2 },
  { arbitrary: hostileString, weight: 1 },
);

/** Who calls: weighted to the admin, whose calls reach the domain rules. */
type Caller = "admin" | "member" | "outsider" | "otherAdmin" | "anonymous" | "badToken" | "fresh";
const caller = fc.oneof(
  { arbitrary: fc.constant<Caller>("admin"), weight: 8 },
  { arbitrary: fc.constantFrom<Caller>("member", "outsider", "otherAdmin", "anonymous", "badToken"), weight: 2 },
);

/** An organization id: ours, another's, unknown, or garbage. Resolved when the case runs. */
type OrgRef = { ref: "A" | "B" } | { raw: string };
const orgRef: fc.Arbitrary<OrgRef> = fc.oneof(
  { arbitrary: fc.constant<OrgRef>({ ref: "A" }), weight: 10 },
  { arbitrary: fc.constant<OrgRef>({ ref: "B" }), weight: 1 },
  { arbitrary: fc.uuid().map((raw) => ({ raw })), weight: 1 },
  { arbitrary: hostileString.map((raw) => ({ raw })), weight: 1 },
);
/** An invite or link id: a real one (of either organization, any status), random or garbage. */
type IdRef = { pick: "link" | "invite"; org: "A" | "B"; index: number } | { raw: string };
const idRef = (prefer: "link" | "invite"): fc.Arbitrary<IdRef> =>
  fc.oneof(
    { arbitrary: fc.nat().map((index) => ({ pick: prefer, org: "A" as const, index })), weight: 8 },
    {
      arbitrary: fc.record({
        pick: fc.constantFrom("link", "invite"),
        org: fc.constantFrom("A", "B"),
        index: fc.nat(),
      }),
      weight: 2,
    },
    { arbitrary: fc.base64String({ minLength: 20, maxLength: 24 }).map((raw) => ({ raw })), weight: 1 },
    { arbitrary: hostileString.map((raw) => ({ raw })), weight: 2 },
  );
/** Sometimes a value of the wrong type instead (a string for an int, an object for a string, ...). */
const orWrong = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof(
    { arbitrary: arb.map((value) => ({ value })), weight: 12 },
    { arbitrary: wrongType.map((wrong) => ({ wrong })), weight: 1 },
  );

// ---------------------------------------------------------------------------------------------

interface Snapshot {
  [table: string]: string;
}
const TABLES = ["User", "ApiToken", "Organization", "Member", "MemberGrant", "Invite", "LinkInvite", "InviteQuota"];
const DIGEST_SQL = `SELECT ${[...TABLES, "AuditEvent"]
  .map(
    (t) =>
      `(SELECT count(*)::text || ':' || coalesce(sum(hashtext(r::text)::bigint), 0)::text FROM "${t}" r) AS "${t}"`,
  )
  .join(", ")}`;

/** Each counts rows that break an invariant; all must be 0. */
const INVARIANTS_SQL = `SELECT
  (SELECT count(*) FROM "LinkInvite" WHERE "maxUses" IS NOT NULL AND "uses" > "maxUses")::int AS "link uses > maxUses",
  (SELECT count(*) FROM (SELECT 1 FROM "Invite" WHERE "status" = 'PENDING'
     GROUP BY "organizationId", "email" HAVING count(*) > 1) d)::int AS "two PENDING invites for one email",
  (SELECT count(*) FROM "Invite" WHERE "email" <> lower(btrim("email")) OR "email" ~ '[[:space:][:cntrl:]]')::int
    AS "invite email not trimmed and lower-case",
  (SELECT count(*) FROM "User" WHERE "email" <> lower(btrim("email")) OR "email" ~ '[[:space:][:cntrl:]]')::int
    AS "user email not trimmed and lower-case",
  (SELECT count(*) FROM "Organization" o WHERE NOT EXISTS
     (SELECT 1 FROM "Member" m WHERE m."organizationId" = o."id" AND m."role" = 'ADMIN'))::int AS "organization without ADMIN",
  (SELECT count(*) FROM "Invite" i WHERE NOT EXISTS (SELECT 1 FROM "AuditEvent" a
     WHERE a."targetId" = i."id" AND a."organizationId" = i."organizationId" AND a."action" = 'invite.created'))::int
    AS "invite without invite.created",
  (SELECT count(*) FROM "Invite" i WHERE i."status" = 'ACCEPTED' AND NOT EXISTS (SELECT 1 FROM "AuditEvent" a
     WHERE a."targetId" = i."id" AND a."action" = 'invite.accepted'))::int AS "accepted invite without invite.accepted",
  (SELECT count(*) FROM "Invite" i WHERE i."status" = 'ACCEPTED' AND NOT EXISTS (SELECT 1 FROM "Member" m
     WHERE m."organizationId" = i."organizationId" AND m."userId" = i."userId"))::int AS "accepted invite without member",
  (SELECT count(*) FROM "Invite" i WHERE i."status" = 'REVOKED' AND NOT EXISTS (SELECT 1 FROM "AuditEvent" a
     WHERE a."targetId" = i."id" AND a."action" = 'invite.revoked'))::int AS "revoked invite without invite.revoked",
  (SELECT count(*) FROM "LinkInvite" l WHERE NOT EXISTS (SELECT 1 FROM "AuditEvent" a
     WHERE a."targetId" = l."id" AND a."organizationId" = l."organizationId" AND a."action" = 'link.created'))::int
    AS "link without link.created",
  (SELECT count(*) FROM "LinkInvite" l WHERE l."revokedAt" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "AuditEvent" a
     WHERE a."targetId" = l."id" AND a."action" = 'link.revoked'))::int AS "revoked link without link.revoked",
  (SELECT count(*) FROM "LinkInvite" l LEFT JOIN (SELECT "targetId", count(*) AS n FROM "AuditEvent"
     WHERE "action" = 'link.used' GROUP BY "targetId") u ON u."targetId" = l."id"
     WHERE l."uses" <> coalesce(u.n, 0))::int AS "link uses <> link.used events",
  (SELECT count(*) FROM "MemberGrant" g WHERE NOT EXISTS (SELECT 1 FROM "Member" m
     WHERE m."organizationId" = g."organizationId" AND m."userId" = g."userId" AND m."role" = 'GUEST'))::int
    AS "grant without a GUEST member"`;

type Outcome =
  | { ok: true; payload: Record<string, any> }
  | { ok: false; code: string; payload: Record<string, any> | null };

describe.each(DB_KINDS)("property: hostile input to every mutation (%s)", (kind) => {
  // High daily quotas: RATE_LIMITED is not what these properties explore (test/domain/invites.test.ts and
  // test/domain/organizations.test.ts do).
  const app = useTestApp(kind, { INVITE_RATE_LIMIT: "10000000", ORG_CREATE_LIMIT_PER_DAY: "0" });
  const tokens: Record<Caller, string | null> = {
    admin: null,
    member: null,
    outsider: null,
    otherAdmin: null,
    anonymous: null,
    badToken: "igw_this-token-was-never-issued",
    fresh: null, // a user made for one case
  };
  let adminActor = { userId: "", tokenId: null, subject: null };
  const orgs = { A: "", B: "" };
  const cases: Record<string, number> = {};
  /** The digest after the last case: the next case's "before", unless something was seeded since. */
  let lastDigest: Snapshot | null = null;

  beforeAll(async () => {
    const { db } = app.current;
    const user = async (name: Caller) => {
      const { user, token } = await createUserWithToken(db, { email: `${name.replace("A", "-a")}@fuzz.test` });
      tokens[name] = token;
      return user;
    };
    const admin = await user("admin");
    const member = await user("member");
    await user("outsider");
    const otherAdmin = await user("otherAdmin");
    adminActor = { userId: admin.id, tokenId: null, subject: null };
    orgs.A = (await createOrganization(db, admin.id, "Fuzz A")).id;
    orgs.B = (await createOrganization(db, otherAdmin.id, "Fuzz B")).id;
    await app.current.seed.member(orgs.A, { id: member.id, email: "member@fuzz.test", token: "" }, "READ");
    // Real ids of every kind for the id arbitraries to pick from (through the API: audited).
    for (const [org, who] of [
      ["A", "admin"],
      ["B", "otherAdmin"],
    ] as const) {
      const actor = { userId: org === "A" ? admin.id : otherAdmin.id, tokenId: null, subject: null };
      await inviteUsers(
        db,
        { organizationId: orgs[org], actor, input: { emails: ["alice@example.com", "bob@example.org"] } },
        { ttlMs: 86_400_000, dailyLimit: 1000 },
      );
      for (const input of [
        { role: "READ", maxUses: 2 },
        { role: "EDIT" },
        { role: "COMMENT", kind: "SPACE", spaceId: "space-1" },
        { role: "REVIEW", kind: "COLLECTION", collectionId: "col-1", expiresAt: "2999-01-01T00:00:00Z" },
      ]) {
        const res = await call(who, "createLinkInvite", { o: orgs[org], input });
        expect(res.outcome.ok, JSON.stringify(res.body)).toBe(true);
      }
    }
  });

  afterAll(async () => {
    // The figures for the record: cases run per property, and the rows they left behind.
    const total = Object.values(cases).reduce((a, b) => a + b, 0);
    const rows = Object.fromEntries(Object.entries(await digest()).map(([t, d]) => [t, count(d)]));
    console.info(`fuzz (${kind}): ${total} cases ${JSON.stringify(cases)}; rows ${JSON.stringify(rows)}`);
  });

  /** Sends one mutation through yoga.fetch and checks the shape of the answer. */
  async function call(who: Caller, name: MutationName, variables: unknown) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    const token = tokens[who];
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await app.current.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query: MUTATIONS[name].doc, variables }),
    });
    const text = await response.text();
    const where = `${name} as ${who}: HTTP ${response.status} ${text.slice(0, 600)}`;
    expect(response.status, where).toBeLessThan(500);
    let body: { data?: Record<string, any> | null; errors?: Array<Record<string, any>> };
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`not JSON: ${where}`);
    }
    expect(typeof body === "object" && body !== null && ("data" in body || "errors" in body), where).toBe(true);
    for (const error of body.errors ?? []) {
      expect(error.message, where).not.toBe("Unexpected error.");
      expect(TOP_LEVEL_CODES.has(error.extensions?.code), where).toBe(true);
    }
    const result = body.data?.[name] as Record<string, any> | null | undefined;
    let outcome: Outcome;
    if (body.errors?.length) {
      expect(result ?? null, where).toBeNull();
      outcome = { ok: false, code: body.errors[0]?.extensions?.code, payload: null };
    } else {
      expect(result, where).toBeTruthy();
      if (result?.code !== undefined) {
        expect(MUTATIONS[name].errors as readonly string[], where).toContain(result.code);
        expect(ERROR_CODES as readonly string[], where).toContain(result.code);
        expect(result.__typename, where).toMatch(/Error$/);
        expect(typeof result.message, where).toBe("string");
        outcome = { ok: false, code: result.code, payload: result };
      } else {
        expect(result?.__typename, where).toBe(`${name[0]?.toUpperCase()}${name.slice(1)}Success`);
        outcome = { ok: true, payload: result as Record<string, any> };
      }
    }
    return { outcome, body, where };
  }

  async function digest(): Promise<Snapshot> {
    const [row] = await app.current.db.$queryRawUnsafe<Snapshot[]>(DIGEST_SQL);
    return row as Snapshot;
  }

  async function checkInvariants(where: string) {
    const [row] = await app.current.db.$queryRawUnsafe<Record<string, number>[]>(INVARIANTS_SQL);
    const broken = Object.entries(row ?? {}).filter(([, n]) => Number(n) !== 0);
    expect(broken, where).toEqual([]);
  }

  const resolveOrg = (ref: OrgRef) => ("ref" in ref ? orgs[ref.ref] : ref.raw);
  async function resolveId(ref: IdRef): Promise<string> {
    if ("raw" in ref) return ref.raw;
    const where = { organizationId: orgs[ref.org] };
    const rows =
      ref.pick === "link"
        ? await app.current.db.linkInvite.findMany({ where, select: { id: true }, orderBy: { id: "asc" } })
        : await app.current.db.invite.findMany({ where, select: { id: true }, orderBy: { id: "asc" } });
    return rows.length ? (rows[ref.index % rows.length]?.id as string) : "no-such-id";
  }
  /** A variable's value, or the wrong-typed value that replaces it. */
  const v = <T>(x: { value: T } | { wrong: unknown }) => ("value" in x ? x.value : x.wrong);
  /**
   * A value as the service receives it: variables travel as JSON, where Infinity, -Infinity and
   * NaN become null and -0 becomes 0. Checks compare the answer with this, not with what was
   * generated.
   */
  const onWire = <T>(x: T): T => (x === undefined ? x : JSON.parse(JSON.stringify(x)));

  /**
   * One case: digest, call, checks. A failure leaves every table as it was; a success that
   * touches invites, links or memberships writes audit events (and `expectAudit` checks how many).
   */
  async function runCase(
    who: Caller,
    name: MutationName,
    variables: unknown,
    check?: (payload: Record<string, any>, before: Snapshot, after: Snapshot) => void,
  ) {
    const before = lastDigest ?? (await digest());
    const { outcome, where } = await call(who, name, variables);
    const after = await digest();
    lastDigest = after;
    if (!outcome.ok) {
      expect(after, `a failure (${outcome.code}) wrote something: ${where}`).toEqual(before);
    } else {
      const changed = ["Invite", "LinkInvite", "Member", "MemberGrant"].some((t) => before[t] !== after[t]);
      const audited = count(after.AuditEvent) - count(before.AuditEvent);
      if (name === "createOrganization") {
        expect(audited, where).toBe(0);
        expect(count(after.Organization) - count(before.Organization), where).toBe(1);
        expect(count(after.Member) - count(before.Member), where).toBe(1);
      } else {
        expect(audited > 0, `changed ${changed}, audit events +${audited}: ${where}`).toBe(changed);
      }
      check?.(outcome.payload, before, after);
    }
    await checkInvariants(where);
    return outcome;
  }
  const count = (digestValue: string | undefined) => Number(digestValue?.split(":")[0]);
  /** Runs a property `numRuns` (times FUZZ_SCALE) times, counting the cases under the test's name. */
  const property = <Ts extends [unknown, ...unknown[]]>(
    arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
    numRuns: number,
    predicate: (...args: Ts) => Promise<void>,
  ) => {
    const label = expect.getState().currentTestName?.split(" > ").pop()?.split(":")[0] ?? "?";
    const counted = (...args: Ts) => {
      cases[label] = (cases[label] ?? 0) + 1;
      return predicate(...args);
    };
    return fc.assert(fc.asyncProperty(...arbs, counted), { numRuns: runs(numRuns), seed: SEED });
  };

  it("createOrganization: any title", async () => {
    await property(
      [caller, orWrong(fc.oneof(hostileString, fc.constantFrom("Acme", "  Acme  ")))],
      250,
      async (who, title) => {
        await runCase(who, "createOrganization", { input: { title: v(title) } }, (payload) => {
          const sent = onWire(v(title)) as string;
          expect(payload.organization.viewerRole).toBe("ADMIN");
          expect(payload.organization.title).toBe(sent.trim());
        });
      },
    );
  });

  it("inviteUsersToOrganization: any emails, invitees, roles, sso", async () => {
    await property([caller, orgRef, orWrong(inviteInput)], 450, async (who, org, input) => {
      const sent = onWire(v(input)) as Record<string, any>;
      await runCase(who, "inviteUsersToOrganization", { o: resolveOrg(org), input: sent }, (payload) => {
        const normalized = new Set(
          [...(sent.emails ?? []), ...(sent.invitees ?? []).map((i: { email: string }) => i.email)].map((e: string) =>
            e.trim().toLowerCase(),
          ),
        );
        const answered = [...payload.invites.map((i: { email: string }) => i.email), ...payload.alreadyMembers];
        expect(new Set(answered)).toEqual(normalized);
        expect(answered.length).toBe(normalized.size);
        expect(normalized.size).toBeGreaterThanOrEqual(1);
        expect(normalized.size).toBeLessThanOrEqual(100);
        expect(payload.invited).toBe(payload.invites.length);
        for (const invite of payload.invites) expect(invite.status).toBe("PENDING");
      });
    });
  });

  it("joinOrganizationWithInvite: any ids, as anyone (new users too)", async () => {
    const joiner = fc.oneof(caller, fc.constantFrom("newUser", "invitee"));
    await property([joiner, orgRef, orWrong(idRef("link"))], 250, async (who, org, id) => {
      let as = who as Caller;
      let ownInvite: string | null = null;
      if (who === "newUser" || who === "invitee") {
        // A user of its own for this case (so that joins can succeed), invited by email when "invitee".
        lastDigest = null;
        const user = await app.current.seed.user(who);
        tokens.fresh = user.token;
        as = "fresh";
        if (who === "invitee") {
          const { invites } = await inviteUsers(
            app.current.db,
            { organizationId: orgs.A, actor: adminActor, input: { emails: [user.email] } },
            { ttlMs: 86_400_000, dailyLimit: 10_000_000 },
          );
          ownInvite = invites[0]?.id ?? null;
        }
      }
      let inviteId: unknown;
      if ("wrong" in id) inviteId = id.wrong;
      else if (ownInvite && !("raw" in id.value)) inviteId = ownInvite;
      else inviteId = await resolveId(id.value);
      await runCase(as, "joinOrganizationWithInvite", { o: resolveOrg(org), i: inviteId }, (payload, before, after) => {
        expect(count(after.Member) - count(before.Member)).toBe(1);
        expect(count(after.AuditEvent) - count(before.AuditEvent)).toBe(1);
        expect(payload.member.organization.id).toBe(resolveOrg(org));
      });
    });
  });

  it("revokeInvite: any ids", async () => {
    await property([caller, orgRef, orWrong(idRef("invite"))], 200, async (who, org, id) => {
      const inviteId = "value" in id ? await resolveId(id.value) : id.wrong;
      await runCase(who, "revokeInvite", { o: resolveOrg(org), i: inviteId }, (payload) => {
        expect(payload.invite.status).toBe("REVOKED");
      });
    });
  });

  it("createLinkInvite: any kind, role, target, expiry and maxUses", async () => {
    await property([caller, orgRef, orWrong(createLinkInput)], 400, async (who, org, input) => {
      const sent = onWire(v(input)) as Record<string, any>;
      await runCase(who, "createLinkInvite", { o: resolveOrg(org), input: sent }, (payload, before, after) => {
        const link = payload.linkInvite;
        expect(count(after.LinkInvite) - count(before.LinkInvite)).toBe(1);
        expect(count(after.AuditEvent) - count(before.AuditEvent)).toBe(1);
        expect(link).toMatchObject({ kind: sent.kind ?? "ORGANIZATION", role: sent.role, uses: 0, status: "ACTIVE" });
        expect(link.maxUses).toBe(sent.maxUses ?? null);
        expect(link.maxUses === null || (link.maxUses >= 1 && link.maxUses <= 1_000_000)).toBe(true);
        if (sent.expiresAt != null) expect(new Date(link.expiresAt).getTime()).toBe(new Date(sent.expiresAt).getTime());
      });
    });
  });

  it("updateLinkInvite: any role, expiry and maxUses on any link", async () => {
    await property(
      [caller, orgRef, orWrong(idRef("link")), orWrong(updateLinkInput)],
      400,
      async (who, org, id, input) => {
        const inviteId = "value" in id ? await resolveId(id.value) : id.wrong;
        const sent = onWire(v(input)) as Record<string, any>;
        await runCase(who, "updateLinkInvite", { o: resolveOrg(org), i: inviteId, input: sent }, (payload) => {
          const link = payload.linkInvite;
          if (sent.maxUses !== undefined) expect(link.maxUses).toBe(sent.maxUses);
          if (sent.role != null) expect(link.role).toBe(sent.role);
          if (link.maxUses !== null) expect(link.uses).toBeLessThanOrEqual(link.maxUses);
        });
      },
    );
  });

  it("revokeLinkInvite: any ids", async () => {
    await property([caller, orgRef, orWrong(idRef("link"))], 200, async (who, org, id) => {
      const inviteId = "value" in id ? await resolveId(id.value) : id.wrong;
      await runCase(who, "revokeLinkInvite", { o: resolveOrg(org), i: inviteId }, (payload) => {
        expect(payload.existed).toBe(payload.linkInvite !== null);
        if (payload.existed) expect(payload.linkInvite.status).toBe("REVOKED");
      });
    });
  });

  it("updateOrganizationDomains: any list of domains", async () => {
    await property(
      [caller, orgRef, orWrong(fc.array(domainValue, { maxLength: 55 }))],
      200,
      async (who, org, domains) => {
        await runCase(who, "updateOrganizationDomains", { o: resolveOrg(org), domains: v(domains) }, (payload) => {
          const sent = onWire(v(domains)) as string[];
          expect(payload.organization.allowedDomains).toEqual([...new Set(sent.map((d) => d.trim().toLowerCase()))]);
          expect(payload.organization.allowedDomains.length).toBeLessThanOrEqual(50);
        });
      },
    );
  });

  it("joinOrganizationByDomain: any organization, as anyone", async () => {
    await property([caller, orgRef], 150, async (who, org) => {
      await runCase(who, "joinOrganizationByDomain", { o: resolveOrg(org) }, (payload, before, after) => {
        expect(payload.member.role).toBe("READ");
        expect(payload.member.organization.id).toBe(resolveOrg(org));
        expect(count(after.Member) - count(before.Member)).toBe(1);
        expect(count(after.AuditEvent) - count(before.AuditEvent)).toBe(1);
      });
    });
  });

  it("every mutation: variables of any JSON type, and variables that are not an object", async () => {
    const variables = fc.oneof(
      { arbitrary: fc.dictionary(fc.constantFrom("o", "i", "input", "x"), wrongType, { maxKeys: 4 }), weight: 4 },
      {
        arbitrary: fc.record({ o: fc.constant("A"), i: wrongType, input: wrongType }, { requiredKeys: ["o"] }),
        weight: 4,
      },
      { arbitrary: fc.anything({ maxDepth: 2 }), weight: 1 },
    );
    await property([caller, fc.constantFrom(...MUTATION_NAMES), variables], 400, async (who, name, vars) => {
      const sent =
        vars && typeof vars === "object" && (vars as { o?: unknown }).o === "A" ? { ...vars, o: orgs.A } : vars;
      await runCase(who, name, sent);
    });
  });
});
