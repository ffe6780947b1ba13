import { z } from "zod";
import { ValidationError } from "./errors.js";

/** Trimmed, lower-cased email; RFC-ish check (zod's), at most 254 characters. */
export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, "Email is too long")
  .pipe(z.email({ message: "Invalid email address" }));

export function normalizeEmail(raw: string): string {
  return parse(emailSchema, raw, ["email"]);
}

/**
 * Text that PostgreSQL can store or look up: no NUL (U+0000, which `text` cannot hold) and no lone
 * surrogate (not Unicode; PostgreSQL would store U+FFFD instead, and PGlite fails to encode some).
 */
export function storableText(schema: z.ZodString): z.ZodString {
  return schema
    .refine((value) => !value.includes("\u0000"), "must not contain NUL (U+0000)")
    .refine((value) => !/\p{Cs}/u.test(value), "must be well-formed Unicode (no lone surrogates)");
}

/** An id argument: invites' and links' ids are 22 characters; anything empty or huge is a mistake. */
export const idSchema = storableText(z.string().min(1, "must not be empty").max(200, "must be at most 200 characters"));

export const titleSchema = storableText(
  z.string().trim().min(1, "Title must not be empty").max(200, "Title must be at most 200 characters"),
);

/** An instant PostgreSQL stores and ISO 8601 writes with four digits: the years 0001 to 9999 (UTC). */
export const instantSchema = z
  .date()
  .min(new Date("0001-01-01T00:00:00.000Z"), "must be in the years 0001 to 9999 (UTC)")
  .max(new Date("9999-12-31T23:59:59.999Z"), "must be in the years 0001 to 9999 (UTC)");

/** Parses with zod and turns a failure into the domain's ValidationError. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, basePath: string[] = []): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw toValidationError(result.error.issues, basePath);
}

export function toValidationError(
  issues: ReadonlyArray<{ message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }>,
  basePath: string[] = [],
): ValidationError {
  const mapped = issues.map((issue) => ({
    message: issue.message,
    path: [...basePath, ...(issue.path ?? []).map((p) => String(typeof p === "object" && p !== null ? p.key : p))],
  }));
  const first = mapped[0];
  const where = first && first.path.length > 0 ? `${first.path.join(".")}: ` : "";
  return new ValidationError(`${where}${first?.message ?? "Invalid input"}`, mapped);
}
