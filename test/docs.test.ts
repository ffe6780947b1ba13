import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The documentation holds together: README.md and docs/*.md link only to files and headings that
 * exist, the README stays one screenful, and every docs page opens with a title, a blank line
 * and a two-line summary (what the page covers, for whom). No database: it reads files only.
 */

/** The repository root: the nearest folder above this file holding package.json and README.md. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, "package.json")) && existsSync(join(dir, "README.md")))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("repository root not found");
    dir = parent;
  }
  return dir;
}

const root = repositoryRoot();
const docsDir = join(root, "docs");
const docPages = readdirSync(docsDir)
  .filter((name) => name.endsWith(".md"))
  .map((name) => join(docsDir, name));
const documents = [join(root, "README.md"), ...docPages];

/** The lines outside fenced code blocks (``` or ~~~), with their 1-based numbers. */
function proseLines(text: string): { line: string; number: number }[] {
  const lines: { line: string; number: number }[] = [];
  let fence: string | null = null;
  text.split("\n").forEach((line, index) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker) {
      if (fence === null) fence = marker[0] ?? null;
      else if (marker[0] === fence) fence = null;
      return;
    }
    if (fence === null) lines.push({ line, number: index + 1 });
  });
  return lines;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Relative links `[text](target)` outside code (fenced blocks and inline code spans). */
function relativeLinks(text: string): { target: string; number: number }[] {
  const links: { target: string; number: number }[] = [];
  for (const { line, number } of proseLines(text)) {
    const withoutCode = line.replace(/`[^`]*`/g, "");
    for (const match of withoutCode.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = match[1] as string;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      links.push({ target, number });
    }
  }
  return links;
}

const read = (path: string) => readFileSync(path, "utf8");
const name = (path: string) => relative(root, path);

describe("documentation", () => {
  it("has docs pages", () => {
    expect(docPages.length).toBeGreaterThan(0);
  });

  it("links only to files that exist and to headings that exist", () => {
    const broken: string[] = [];
    for (const document of documents) {
      for (const { target, number } of relativeLinks(read(document))) {
        const [pathPart = "", anchor] = target.split("#", 2);
        const file = pathPart === "" ? document : resolve(dirname(document), decodeURIComponent(pathPart));
        const where = `${name(document)}:${number} -> ${target}`;
        if (!existsSync(file)) {
          broken.push(`${where}: no such file`);
          continue;
        }
        if (anchor === undefined) continue;
        if (statSync(file).isDirectory() || !file.endsWith(".md")) {
          broken.push(`${where}: an anchor into a file that is not Markdown`);
        } else if (!anchorsOf(read(file)).has(anchor)) {
          broken.push(`${where}: no heading with that anchor`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("keeps the README to one screenful, with the request flow as a Mermaid diagram", () => {
    const readme = read(join(root, "README.md"));
    expect(readme.trimEnd().split("\n").length).toBeLessThanOrEqual(220);
    expect(readme).toMatch(/^```mermaid\n(flowchart|graph) (LR|TD|TB|RL|BT)\n/m);
  });

  it("links every docs page from the README", () => {
    const linked = new Set(
      relativeLinks(read(join(root, "README.md"))).map(({ target }) =>
        resolve(root, target.split("#", 1)[0] as string),
      ),
    );
    expect(docPages.filter((page) => !linked.has(page)).map(name)).toEqual([]);
  });

  it("opens every docs page with a title and a two-line summary", () => {
    const wrong: string[] = [];
    for (const page of docPages) {
      const [title = "", gap = "", first = "", second = "", after = ""] = read(page).split("\n");
      const isText = (line: string) => line.trim() !== "" && !line.startsWith("#") && !line.startsWith("```");
      if (!/^# \S/.test(title)) wrong.push(`${name(page)}: line 1 is not a "# Title"`);
      if (gap.trim() !== "") wrong.push(`${name(page)}: line 2 is not blank after the title`);
      if (!isText(first) || !isText(second)) wrong.push(`${name(page)}: lines 3-4 are not a two-line summary`);
      if (after.trim() !== "") wrong.push(`${name(page)}: line 5 is not blank after the summary`);
    }
    expect(wrong).toEqual([]);
  });

  it("names only source, test and script paths that exist", () => {
    // A client app's paths in the frontend set-ups (src/gql/…, globs) are not this repository's.
    const isClientPath = (path: string) => path.startsWith("src/gql") || path.includes("*");
    const missing: string[] = [];
    for (const document of documents) {
      read(document)
        .split("\n")
        .forEach((line, index) => {
          for (const match of line.matchAll(/(?<![\w./@-])((?:src|test|bench|scripts|prisma)\/[\w./-]*[\w/])/g)) {
            const path = (match[1] as string).replace(/\/$/, "");
            if (isClientPath(path) || existsSync(join(root, path))) continue;
            missing.push(`${name(document)}:${index + 1}: ${path}`);
          }
        });
    }
    expect(missing).toEqual([]);
  });
});
