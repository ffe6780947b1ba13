import { afterAll, beforeAll, expect } from "vitest";
import { createOrganization } from "../../src/domain/organizations.js";
import { createUserWithToken } from "../../src/domain/users.js";
import type { MemberRole, PrismaClient } from "../../src/generated/prisma/client.js";
import { createGraphQLHandler, type Yoga } from "../../src/http/yoga.js";
import { createLogger } from "../../src/observability/logger.js";
import { type DbKind, openTestDatabase, type TestDatabase } from "./db.js";

export interface GqlResponse<T = Record<string, any>> {
  status: number;
  data: T | null | undefined;
  errors: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }> | undefined;
}

export interface TestUser {
  id: string;
  email: string;
  token: string;
}

let counter = 0;
/** A unique email for this test run. */
export function uniqueEmail(prefix = "user"): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}@example.com`;
}

export interface TestApp {
  kind: DbKind;
  db: PrismaClient;
  testDb: TestDatabase;
  yoga: Yoga;
  /** POST /graphql through the real HTTP handler (yoga.fetch), optionally as `token`'s user. */
  gql<T = Record<string, any>>(
    query: string,
    options?: { variables?: Record<string, unknown>; token?: string | null; headers?: Record<string, string> },
  ): Promise<GqlResponse<T>>;
  /** Counts the SQL statements `fn` sends. */
  countQueries<T>(fn: () => Promise<T>): Promise<{ result: T; count: number; statements: string[] }>;
  seed: Seed;
  close(): Promise<void>;
}

export interface Seed {
  user(prefix?: string): Promise<TestUser>;
  /** An organization administered by `owner` (a new user when omitted). */
  org(owner?: TestUser, title?: string): Promise<{ id: string; owner: TestUser }>;
  /** Makes `user` a member of `orgId` with `role` directly in the database. */
  member(orgId: string, user: TestUser, role: MemberRole, sso?: boolean): Promise<void>;
}

export async function createTestApp(kind: DbKind, env: Record<string, string> = {}): Promise<TestApp> {
  const testDb = await openTestDatabase(kind, env);
  const db = testDb.database.prisma;
  const yoga = createGraphQLHandler({ db, config: testDb.config, logger: createLogger("silent") });
  const seed: Seed = {
    async user(prefix = "user") {
      const { user, token } = await createUserWithToken(db, { email: uniqueEmail(prefix) });
      return { id: user.id, email: user.email as string, token };
    },
    async org(owner, title = "Acme") {
      const o = owner ?? (await seed.user("owner"));
      const org = await createOrganization(db, o.id, title);
      return { id: org.id, owner: o };
    },
    async member(orgId, user, role, sso = false) {
      await db.member.create({ data: { organizationId: orgId, userId: user.id, role, sso } });
    },
  };
  return {
    kind,
    db,
    testDb,
    yoga,
    seed,
    async gql(query, options = {}) {
      const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const response = await yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers,
        body: JSON.stringify({ query, variables: options.variables ?? {} }),
      });
      const body = (await response.json()) as { data?: any; errors?: GqlResponse["errors"] };
      return { status: response.status, data: body.data, errors: body.errors };
    },
    async countQueries(fn) {
      const statements: string[] = [];
      const off = testDb.database.onQuery((sql) => statements.push(sql));
      try {
        const result = await fn();
        return { result, count: statements.length, statements };
      } finally {
        off();
      }
    },
    close: async () => {
      await yoga.dispose();
      await testDb.close();
    },
  };
}

/** POST /graphql as `user`, failing the test on any top-level error: the response's data. */
export async function gqlData(
  a: TestApp,
  query: string,
  variables: Record<string, unknown>,
  user: TestUser,
): Promise<Record<string, any>> {
  const res = await a.gql(query, { variables, token: user.token });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data as Record<string, any>;
}

/** Registers beforeAll/afterAll that open one app per test file; read `.current` inside tests. */
export function useTestApp(kind: DbKind, env: Record<string, string> = {}): { current: TestApp } {
  const holder = {} as { current: TestApp };
  beforeAll(async () => {
    holder.current = await createTestApp(kind, env);
  });
  afterAll(async () => {
    await holder.current?.close();
  });
  return holder;
}
