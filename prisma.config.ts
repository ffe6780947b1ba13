import { defineConfig } from "prisma/config";

// Only the Prisma CLI reads this file (generate/validate). The service's own migration runner
// (src/db/migrate.ts) works on both databases; see README "Migrations".
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL },
});
