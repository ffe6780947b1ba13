import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";

/**
 * CSRF prevention (Yoga's plugin): a request a browser could send cross-site without a CORS
 * preflight (a GET, or a POST as a form or text/plain) must carry a header that forces one. Clients
 * that POST JSON are unaffected; GET requests add `x-graphql-yoga-csrf` (or Apollo's
 * `apollo-require-preflight`), or carry an Authorization header, which no form can set. The refusal
 * is HTTP 403 with extensions.code BAD_REQUEST. (`authorization` is on the list only because Bearer
 * tokens are the sole credential: a browser attaches cookies or Basic credentials by itself, never a
 * Bearer token. Should cookie or Basic sign-in ever be added, it must come off the list.)
 */
export const CSRF_HEADERS = [
  "x-graphql-yoga-csrf",
  "apollo-require-preflight",
  "x-apollo-operation-name",
  "authorization",
];

export function useCsrfPrevention(): Plugin {
  const plugin = useCSRFPrevention({ requestHeaders: CSRF_HEADERS }) as Plugin;
  const check = plugin.onRequestParse;
  return {
    onRequestParse(payload) {
      try {
        return check?.(payload);
      } catch (error) {
        if (error instanceof GraphQLError) {
          throw new GraphQLError(
            "This request could be a cross-site request forgery: send it as a POST with content-type application/json, or add the header `x-graphql-yoga-csrf: 1`.",
            { extensions: { code: "BAD_REQUEST", http: { status: 403 } } },
          );
        }
        throw error;
      }
    },
  };
}
