import type { Plugin } from "graphql-yoga";

/** Headers for every response of /graphql (GraphiQL's page needs its inline scripts: no CSP there). */
export function useSecurityHeaders(): Plugin {
  return {
    onResponse: ({ response }) => {
      response.headers.set("x-content-type-options", "nosniff");
      response.headers.set("referrer-policy", "no-referrer");
      response.headers.set("x-frame-options", "DENY");
      response.headers.set("cross-origin-resource-policy", "same-origin");
      if (!response.headers.get("content-type")?.includes("text/html")) {
        response.headers.set("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
      }
    },
  };
}
