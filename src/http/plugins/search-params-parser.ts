import { GraphQLError } from "graphql";
import type { GraphQLParams, Plugin } from "graphql-yoga";

/**
 * GET's query string and a form body (application/x-www-form-urlencoded) carry `variables` and
 * `extensions` as JSON text, which Yoga's own parser hands to JSON.parse unguarded: `?variables={`
 * was a 500 ("Unexpected error.", logged as a crash). Parsed here instead, field for field as Yoga
 * does, and JSON that does not parse is a 400 BAD_REQUEST, as it is in a JSON body.
 */
export function useSearchParamsParser(): Plugin {
  return {
    onRequestParse({ request, setRequestParser }) {
      if (request.method === "GET") {
        setRequestParser((req) => {
          const at = req.url.indexOf("?");
          return paramsOf(new URLSearchParams(at < 0 ? "" : req.url.slice(at + 1)));
        });
      } else if (request.method === "POST" && isContentType(request, "application/x-www-form-urlencoded")) {
        setRequestParser(async (req) => paramsOf(new URLSearchParams(await req.text())));
      }
    },
  };
}

/** Yoga's test of a request's content type: the first of a list, with or without parameters. */
function isContentType(request: Request, type: string): boolean {
  const given = request.headers.get("content-type")?.split(",")[0];
  return given === type || !!given?.startsWith(`${type};`);
}

function paramsOf(search: URLSearchParams): GraphQLParams {
  return {
    operationName: search.get("operationName") || undefined,
    query: search.get("query") || undefined,
    variables: jsonParam(search, "variables"),
    extensions: jsonParam(search, "extensions"),
    ...(search.get("documentId") ? { documentId: search.get("documentId") } : {}),
  } as GraphQLParams;
}

function jsonParam(search: URLSearchParams, name: string): Record<string, unknown> | undefined {
  const text = search.get(name);
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new GraphQLError(`The "${name}" parameter is not valid JSON.`, {
      extensions: { code: "BAD_REQUEST", http: { status: 400 } },
    });
  }
}
