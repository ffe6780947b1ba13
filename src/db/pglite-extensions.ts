import type { Extensions } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";

/**
 * The PostgreSQL extensions the migrations use, for every PGlite this project opens (the service's,
 * the migration runner's shadow, the tests'): pg_trgm, whose GIN indexes make a member search by
 * name or email (ILIKE '%…%') an index scan (migration 20261203131801_member_search). On PostgreSQL the
 * migration creates the extension itself (`CREATE EXTENSION IF NOT EXISTS pg_trgm`: a trusted
 * extension, shipped with PostgreSQL's contrib; the database owner may create it).
 */
export const PGLITE_EXTENSIONS = { pg_trgm } satisfies Extensions;
