import pg from "pg";

/**
 * A PostgreSQL server's administration, for the tests and the benchmark (bench/run.ts) alike: no
 * vitest here, so a script can import it.
 */

/** `url` with its database replaced by `name`. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Runs one statement on its own connection (CREATE DATABASE, DROP DATABASE ...). */
export async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
