import { pathToFileURL } from "node:url";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { createDatabase, type Database, DataDirLockedError } from "./db/client.js";
import { exitCodeFor, parseCommand } from "./operator/commands.js";
import { sendToOperatorSocket } from "./operator/socket.js";

/**
 * `npm run cli -- <command>`: operator commands (src/operator/commands.ts). Prints one JSON object and exits 0;
 * bad input or an unknown command exits 2 with a message on stderr.
 */
export async function runCli(argv: string[], config: Config): Promise<object> {
  const { command, values } = parseCommand(argv);
  let database: Database;
  try {
    // stdout holds the one JSON result: how a new data directory was made goes to stderr, if anything.
    database = await createDatabase(config, {
      log: { info: () => {}, warn: (message) => process.stderr.write(`${message}\n`) },
    });
  } catch (error) {
    // The embedded database is owned by a running server: ask it to run the command.
    if (error instanceof DataDirLockedError && config.database.kind === "pglite") {
      const result = await sendToOperatorSocket(config.database.dataDir, argv);
      if (result) return result;
    }
    throw error;
  }
  try {
    if (config.autoMigrate) await database.migrate();
    return await command.run(database.prisma, values);
  } finally {
    await database.close();
  }
}

async function main(): Promise<number> {
  try {
    const result = await runCli(process.argv.slice(2), loadConfig());
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof ConfigError ? 2 : exitCodeFor(error);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  void main().then((code) => process.exit(code));
}
