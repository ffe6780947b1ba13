import { parseArgs } from "node:util";
import { parseDuration } from "../config.js";
import { DomainError } from "../domain/errors.js";
import { removeMemberByEmail, setMemberRoleByEmail } from "../domain/members.js";
import { createOrganizationForEmail } from "../domain/organizations.js";
import { createToken, createUserWithToken, revokeToken } from "../domain/users.js";
import type { PrismaClient } from "../generated/prisma/client.js";

/** Bad input or an unknown command: exit code 2, message on stderr. */
export class UsageError extends Error {}

const USAGE = `usage: npm run cli -- <command>
  user create --email E [--name N]            -> {"id","email","token"}
  token create --email E [--expires-in 30d]   -> {"token","expiresAt"}
  token revoke --token T                      -> {"revoked":true}
  org create --title T --owner-email E        -> {"id","title","ownerId"}
  member set-role --org O --email E --role R  -> {"userId","role"}   (R: ADMIN CREATE EDIT REVIEW COMMENT READ GUEST)
  member remove --org O --email E             -> {"removed":true}`;

type Options = Record<string, { type: "string" }>;
type Command = {
  options: Options;
  required: string[];
  run: (db: PrismaClient, v: Record<string, string>) => Promise<object>;
};

const COMMANDS: Record<string, Command> = {
  "user create": {
    options: { email: { type: "string" }, name: { type: "string" } },
    required: ["email"],
    run: async (db, v) => {
      const { user, token } = await createUserWithToken(db, { email: v.email as string, name: v.name });
      return { id: user.id, email: user.email, token };
    },
  },
  "token create": {
    options: { email: { type: "string" }, "expires-in": { type: "string" } },
    required: ["email"],
    run: async (db, v) => {
      let expiresInMs: number | undefined;
      if (v["expires-in"] !== undefined) {
        expiresInMs = parseDuration(v["expires-in"]) ?? undefined;
        if (expiresInMs === undefined)
          throw new UsageError(`--expires-in: "${v["expires-in"]}" is not a duration like 30m, 12h or 7d`);
      }
      const { token, expiresAt } = await createToken(db, { email: v.email as string, expiresInMs });
      return { token, expiresAt: expiresAt?.toISOString() ?? null };
    },
  },
  "token revoke": {
    options: { token: { type: "string" } },
    required: ["token"],
    run: async (db, v) => {
      await revokeToken(db, v.token as string);
      return { revoked: true };
    },
  },
  "org create": {
    options: { title: { type: "string" }, "owner-email": { type: "string" } },
    required: ["title", "owner-email"],
    run: async (db, v) => {
      const org = await createOrganizationForEmail(db, {
        title: v.title as string,
        ownerEmail: v["owner-email"] as string,
      });
      return { id: org.id, title: org.title, ownerId: org.ownerId };
    },
  },
  "member set-role": {
    options: { org: { type: "string" }, email: { type: "string" }, role: { type: "string" } },
    required: ["org", "email", "role"],
    run: async (db, v) => {
      const member = await setMemberRoleByEmail(db, {
        organizationId: v.org as string,
        email: v.email as string,
        role: v.role as string,
      });
      return { userId: member.userId, role: member.role };
    },
  },
  "member remove": {
    options: { org: { type: "string" }, email: { type: "string" } },
    required: ["org", "email"],
    run: async (db, v) => {
      await removeMemberByEmail(db, { organizationId: v.org as string, email: v.email as string });
      return { removed: true };
    },
  },
};

/** Parses argv into a command; throws UsageError before anything touches the database. */
export function parseCommand(argv: string[]): { command: Command; values: Record<string, string> } {
  const name = argv.slice(0, 2).join(" ");
  const command = COMMANDS[name];
  // Asking for help gets the usage alone (still exit 2: it is not a command, and prints no JSON).
  const asksHelp = argv.length === 0 || ["--help", "-h", "help"].includes(argv[0] as string);
  if (!command) throw new UsageError(asksHelp ? USAGE : `unknown command: ${name}\n${USAGE}`);
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv.slice(2),
      options: command.options,
      strict: true,
      allowPositionals: false,
    }) as {
      values: Record<string, string | undefined>;
    });
  } catch (error) {
    throw new UsageError(`${name}: ${(error as Error).message}`);
  }
  for (const key of command.required) {
    if (!values[key]?.trim()) throw new UsageError(`${name}: --${key} is required`);
  }
  return { command, values: values as Record<string, string> };
}

/** Runs one operator command against `db`; what the CLI prints as JSON. */
export async function executeCommand(db: PrismaClient, argv: string[]): Promise<object> {
  const { command, values } = parseCommand(argv);
  return command.run(db, values);
}

/** The CLI's exit code for a failed command: 2 for bad input (the caller's mistake), 1 otherwise. */
export function exitCodeFor(error: unknown): 1 | 2 {
  return error instanceof UsageError || error instanceof DomainError ? 2 : 1;
}
