import type { Plugin } from "graphql-yoga";
import { DATABASE_FAILURE_CODES } from "../../graphql/errors.js";

/**
 * A response that is nothing but database failures (no data: the context could not be built, or
 * every root field is null) is a 503, so that load balancers and clients see the outage; partial
 * data keeps its 200.
 */
export function useDatabaseFailureStatus(): Plugin {
  return {
    onResultProcess: ({ result, setResult }) => {
      if (Array.isArray(result) || !("errors" in result)) return;
      const errors = result.errors ?? [];
      if (errors.length === 0 || !errors.every((e) => DATABASE_FAILURE_CODES.has(e.extensions?.code))) return;
      if (Object.values(result.data ?? {}).some((value) => value != null)) return;
      setResult({ ...result, extensions: { ...result.extensions, http: { status: 503 } } });
    },
  };
}
