/**
 * `npm run db:migrate`: applies the migrations (src/db/migrate.ts) with the same configuration (and
 * data-directory lock) as the server, prints `{"applied":[...]}` and exits.
 */
import { loadConfig } from "../config.js";
import { createDatabase } from "./client.js";

async function runCli(): Promise<string[]> {
  const database = await createDatabase(loadConfig());
  try {
    return await database.migrate();
  } finally {
    await database.close();
  }
}

// process.exit in both branches: the wasm engine keeps the event loop alive for a while.
runCli().then(
  (applied) => {
    process.stdout.write(`${JSON.stringify({ applied })}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
