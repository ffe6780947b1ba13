import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli.js";
import { loadConfig } from "../../src/config.js";
import { createDatabase } from "../../src/db/client.js";
import { newApiToken, newSecretId } from "../../src/domain/ids.js";
import { createGraphQLHandler } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";
import { exitCodeFor, parseCommand } from "../../src/operator/commands.js";
import { uniqueEmail } from "../helpers/app.js";
import { runCliProcess } from "../helpers/process.js";

describe("operator CLI", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "igw-cli-"));
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: "silent" });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function counts() {
    const database = await createDatabase(config);
    try {
      await database.migrate();
      const db = database.prisma;
      return { users: await db.user.count(), tokens: await db.apiToken.count(), orgs: await db.organization.count() };
    } finally {
      await database.close();
    }
  }

  it("prints one JSON object per command and exits 0", async () => {
    const email = uniqueEmail("cli");
    const user = await runCliProcess(["user", "create", "--email", ` ${email.toUpperCase()} `, "--name", "Cli"], {
      DATA_DIR: dataDir,
    });
    expect(user.code, user.stderr).toBe(0);
    const created = JSON.parse(user.stdout);
    expect(Object.keys(created).sort()).toEqual(["email", "id", "token"]);
    expect(created.email).toBe(email);
    expect(created.token.length).toBeGreaterThanOrEqual(40);

    const token = await runCliProcess(["token", "create", "--email", email, "--expires-in", "30d"], {
      DATA_DIR: dataDir,
    });
    expect(token.code, token.stderr).toBe(0);
    const t = JSON.parse(token.stdout);
    const days = (new Date(t.expiresAt).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);

    const revoked = await runCliProcess(["token", "revoke", "--token", t.token], { DATA_DIR: dataDir });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({ revoked: true });
  });

  const BAD_INPUT: Array<[string[], RegExp]> = [
    [[], /usage/],
    [["nope"], /unknown command/],
    [["user", "delete"], /unknown command/],
    [["user", "create"], /--email is required/],
    [["user", "create", "--email", "not-an-email"], /Invalid email/],
    [["user", "create", "--email", "a@example.com", "--bogus", "x"], /Unknown option/],
    [["token", "create", "--email", "nobody@example.com"], /No user with email/],
    [["token", "create", "--email", "a@example.com", "--expires-in", "soon"], /not a duration/],
    [["token", "revoke", "--token", "igw_unknown"], /No such token/],
    [["org", "create", "--title", "x".repeat(201), "--owner-email", "new-owner@example.com"], /at most 200/],
    [["org", "create", "--title", "T"], /--owner-email is required/],
    // Control characters in a title or a name (issue 12, finding 6).
    [["org", "create", "--title", "Acme\r\nBcc: evil@evil.com", "--owner-email", "ctl@example.com"], /control char/],
    [["user", "create", "--email", "ctl-name@example.com", "--name", "Ada\u202Eevil"], /control char/],
    [["--help"], /^usage: npm run cli -- <command>/],
    [["member", "set-role", "--org", "o", "--email", "a@example.com"], /--role is required/],
    [["member", "set-role", "--org", "o", "--email", "a@example.com", "--role", "owner"], /role/],
    [["member", "remove", "--org", "o", "--email", "nobody-here@example.com"], /No user with the email/],
  ];

  // The process contract (exit 2, message on stderr, nothing on stdout), for a parse error, a
  // validation error, a database lookup and a title with control characters; each costs a process and
  // a database start.
  it.each([BAD_INPUT[1], BAD_INPUT[4], BAD_INPUT[6], BAD_INPUT[11]] as Array<[string[], RegExp]>)(
    "the process rejects %j with exit 2 and a message on stderr only",
    async (args, message) => {
      const result = await runCliProcess(args, { DATA_DIR: dataDir });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe("");
    },
  );

  it("rejects every bad input as exit code 2 with its message, and writes nothing", async () => {
    const before = await counts();
    for (const [args, message] of BAD_INPUT) {
      const error = await runCli(args, config).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error, JSON.stringify(args)).toBeInstanceOf(Error);
      expect((error as Error).message, JSON.stringify(args)).toMatch(message);
      expect(exitCodeFor(error), JSON.stringify(args)).toBe(2);
    }
    expect(await counts()).toEqual(before);
  });

  it("member set-role and member remove: JSON out, exit 0; LAST_ADMIN and a non-member exit 2 and change nothing", async () => {
    const ownerEmail = uniqueEmail("cli-owner");
    const org = (await runCli(["org", "create", "--title", "Members", "--owner-email", ownerEmail], config)) as {
      id: string;
      ownerId: string;
    };
    const member = (await runCli(["user", "create", "--email", uniqueEmail("cli-member")], config)) as {
      id: string;
      email: string;
    };
    const database = await createDatabase(config);
    try {
      await database.prisma.member.create({ data: { organizationId: org.id, userId: member.id, role: "READ" } });
    } finally {
      await database.close();
    }
    // One command through the process: its JSON on stdout and exit 0.
    const set = await runCliProcess(
      ["member", "set-role", "--org", org.id, "--email", member.email.toUpperCase(), "--role", "edit"],
      { DATA_DIR: dataDir },
    );
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ userId: member.id, role: "EDIT" });
    const refusal = async (args: string[]) => {
      const error = await runCli(args, config).then(
        () => null,
        (e: unknown) => e,
      );
      expect(exitCodeFor(error), JSON.stringify(args)).toBe(2);
      return (error as Error).message;
    };
    expect(await refusal(["member", "set-role", "--org", org.id, "--email", ownerEmail, "--role", "READ"])).toMatch(
      /at least one admin/,
    );
    expect(await refusal(["member", "remove", "--org", org.id, "--email", ownerEmail])).toMatch(/at least one admin/);
    expect(await runCli(["member", "remove", "--org", org.id, "--email", member.email], config)).toEqual({
      removed: true,
    });
    expect(await refusal(["member", "remove", "--org", org.id, "--email", member.email])).toMatch(/not a member/);
    const check = await createDatabase(config);
    try {
      const members = await check.prisma.member.findMany({ where: { organizationId: org.id } });
      expect(members.map((m) => [m.userId, m.role])).toEqual([[org.ownerId, "ADMIN"]]);
      const events = await check.prisma.auditEvent.findMany({
        where: { organizationId: org.id },
        orderBy: { createdAt: "asc" },
        select: { action: true, targetId: true, actorId: true },
      });
      // The operator is no user: no actor.
      expect(events).toEqual([
        { action: "member.role_changed", targetId: member.id, actorId: null },
        { action: "member.removed", targetId: member.id, actorId: null },
      ]);
    } finally {
      await check.close();
    }
  });

  it("parses commands strictly before touching the database", () => {
    expect(() => parseCommand(["org", "create", "--title", "x", "--owner-email"])).toThrow(
      /argument missing|--owner-email/,
    );
    expect(parseCommand(["org", "create", "--title", "x", "--owner-email", "a@b.co"]).values).toEqual({
      title: "x",
      "owner-email": "a@b.co",
    });
  });

  it("creates the owner of a new organization when the email is unknown", async () => {
    const email = uniqueEmail("owner");
    const org = (await runCli(["org", "create", "--title", "New Org", "--owner-email", email], config)) as {
      id: string;
      title: string;
      ownerId: string;
    };
    expect(org.title).toBe("New Org");
    const database = await createDatabase(config);
    try {
      const member = await database.prisma.member.findUniqueOrThrow({
        where: { organizationId_userId: { organizationId: org.id, userId: org.ownerId } },
        include: { user: true },
      });
      expect(member.role).toBe("ADMIN");
      expect(member.user.email).toBe(email);
      expect(member.user.emailVerified).toBe(true);
    } finally {
      await database.close();
    }
  });

  it("stores --name as the displayName; user and token create tokens authenticate; no --expires-in never expires", async () => {
    const email = uniqueEmail("named");
    const user = (await runCli(["user", "create", "--email", email, "--name", "Ada Lovelace"], config)) as {
      id: string;
      email: string;
      token: string;
    };
    const second = (await runCli(["token", "create", "--email", email], config)) as {
      token: string;
      expiresAt: string | null;
    };
    expect(Object.keys(second).sort()).toEqual(["expiresAt", "token"]);
    expect(second.expiresAt).toBeNull();
    expect(second.token).not.toBe(user.token);

    const database = await createDatabase(config);
    try {
      const yoga = createGraphQLHandler({ db: database.prisma, config, logger: createLogger("silent") });
      const viewer = async (token: string) => {
        const response = await yoga.fetch("http://localhost/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: "{ viewer { id email displayName } }" }),
        });
        return { status: response.status, body: await response.json() };
      };
      const expected = { status: 200, body: { data: { viewer: { id: user.id, email, displayName: "Ada Lovelace" } } } };
      expect(await viewer(user.token)).toEqual(expected);
      expect(await viewer(second.token)).toEqual(expected);
      const stored = await database.prisma.apiToken.findMany({ where: { userId: user.id } });
      expect(stored).toHaveLength(2);
      for (const row of stored) expect(row.expiresAt).toBeNull();
    } finally {
      await database.close();
    }
  });

  it("stores API tokens only as their SHA-256 hash", async () => {
    const email = uniqueEmail("hashed");
    const { token: first } = (await runCli(["user", "create", "--email", email], config)) as { token: string };
    const { token: second } = (await runCli(["token", "create", "--email", email, "--expires-in", "1d"], config)) as {
      token: string;
    };
    const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

    const database = await createDatabase(config);
    try {
      const db = database.prisma;
      for (const token of [first, second]) {
        const row = await db.apiToken.findUnique({ where: { tokenHash: sha256(token) } });
        expect(row, "a row keyed by the token's SHA-256").not.toBeNull();
      }
      // No column of any row of any table holds the token (or its random part).
      const tables = await db.$queryRawUnsafe<Array<{ tablename: string }>>(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
      );
      expect(tables.map((t) => t.tablename)).toContain("ApiToken");
      for (const { tablename } of tables) {
        const rows = await db.$queryRawUnsafe<Array<{ r: string }>>(`SELECT t::text AS r FROM "${tablename}" t`);
        for (const { r } of rows) {
          for (const token of [first, second]) {
            expect(r.includes(token), `${tablename} row ${r}`).toBe(false);
            expect(r.includes(token.slice(-22)), `${tablename} row ${r}`).toBe(false);
          }
        }
      }
    } finally {
      await database.close();
    }
  });
});

/** How many of the bit positions of equally long byte strings take both values across `samples`. */
function varyingBits(samples: Buffer[]): number {
  const first = samples[0] as Buffer;
  let varying = 0;
  for (let byte = 0; byte < first.length; byte++) {
    let or = 0;
    let and = 0xff;
    for (const s of samples) {
      or |= s[byte] as number;
      and &= s[byte] as number;
    }
    varying += (or & ~and & 0xff).toString(2).replaceAll("0", "").length;
  }
  return varying;
}

describe("secrets: invite ids, link ids and API tokens", () => {
  /** The random part of an API token: what follows its fixed prefix, if it has one. */
  const tokenBody = (token: string) => (token.startsWith("igw_") ? token.slice(4) : token);

  it.each([
    ["newSecretId (invite and link ids)", newSecretId, (id: string) => id],
    ["newApiToken", newApiToken, tokenBody],
  ])("%s: 1000 are distinct and carry at least 128 random bits", (_name, generate, body) => {
    const values = Array.from({ length: 1000 }, () => generate());
    expect(new Set(values).size).toBe(1000);
    const bodies = values.map(body);
    for (const b of bodies) expect(b).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    const bytes = bodies.map((b) => Buffer.from(b, "base64url"));
    for (const b of bytes) expect(b.length).toBeGreaterThanOrEqual(16);
    // A timestamp or counter would leave most high bits constant; 128 independent random bits each
    // take both values across 1000 samples (a fixed bit has odds 2^-999).
    const sameLength = bytes.filter((b) => b.length === (bytes[0] as Buffer).length);
    expect(sameLength).toHaveLength(1000);
    expect(varyingBits(bytes)).toBeGreaterThanOrEqual(128);
  });
});
