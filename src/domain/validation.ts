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

/** What PostgreSQL's text cannot hold: NUL, and a surrogate code unit outside a pair. */
export const NUL = "\u0000";
export const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Text that PostgreSQL can store or look up: no NUL (U+0000, which `text` cannot hold) and no lone
 * surrogate (not Unicode; PostgreSQL would store U+FFFD instead, and PGlite fails to encode some).
 */
function storable(schema: z.ZodString): z.ZodString {
  return schema
    .refine((value) => !value.includes(NUL), "must not contain NUL (U+0000)")
    .refine((value) => !LONE_SURROGATE.test(value), "must be well-formed Unicode (no lone surrogates)");
}

/**
 * What a line of text shown to people (a title, a name) must not hold: the control characters
 * (`\p{Cc}`: C0 such as NUL, TAB, LF, CR, ESC; DEL; C1 such as NEL U+0085), the line and paragraph
 * separators U+2028 and U+2029, and the bidi embeddings, overrides and isolates (U+202A to U+202E,
 * U+2066 to U+2069), which reorder the text after them ("Trojan Source"). A line break in a title
 * would become a line of its own in an email's text part, a log line or a CSV export. The bidi
 * marks (U+200E, U+200F, U+061C) and the joiners of emoji stay: they reorder nothing beyond
 * themselves, and right-to-left names need them.
 */
export const CONTROL_CHARACTERS = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;

/**
 * Text stored and shown as one line (titles, display names, ids of other subgraphs' targets):
 * storable (above), and no CONTROL_CHARACTERS, checked after the schema's own steps (a trim removes
 * the whitespace around the text first, line breaks included).
 */
export function storableText(schema: z.ZodString): z.ZodString {
  return storable(schema).refine(
    (value) => !CONTROL_CHARACTERS.test(value),
    "must not contain control characters (CR, LF, TAB, NUL, DEL, C1 controls, U+2028, U+2029, bidi overrides)",
  );
}

/** An id argument: invites' and links' ids are 22 characters; anything empty or huge is a mistake. */
export const idSchema = storable(z.string().min(1, "must not be empty").max(200, "must be at most 200 characters"));

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
