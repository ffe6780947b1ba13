import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import { isValidContentLength, readBodyWithin } from "../body.js";

/**
 * MAX_BODY_BYTES, as Yoga's own `maxRequestBodySize` checks it, without its cost on every request:
 * Yoga pipes every body through a TransformStream to count its bytes (a stream pipeline, an abort
 * signal and a DOMException per request: ~5 % of the CPU of a small query). A valid Content-Length
 * is checked as a number: Node's HTTP parser hands Yoga exactly that many bytes, never more, so there
 * is nothing left to count. Only a body without one (chunked) is read and counted; past the limit
 * the reading stops, and the 413 closes the connection (`Connection: close`).
 *
 * A body the client stops sending (it closes the connection half-way) is a 400 BAD_REQUEST, as Node
 * answers a body cut short itself: the read fails with Node's `ECONNRESET` "aborted", which masking
 * took for a lost database connection (a 503 logged at error level, counted as an outage).
 */
export function useBodySizeLimit(limit: number): Plugin {
  const tooLarge = (headers?: Record<string, string>) =>
    new GraphQLError("Request body too large", {
      extensions: { code: "REQUEST_ENTITY_TOO_LARGE", http: { status: 413, ...(headers ? { headers } : {}) } },
    });
  const cutShort = () =>
    new GraphQLError("The request body was cut short: the client closed the connection", {
      extensions: { code: "BAD_REQUEST", http: { status: 400 } },
    });
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const contentLength = request.headers.get("content-length");
      if (contentLength != null) {
        if (!isValidContentLength(contentLength)) {
          throw new GraphQLError("Content-Length header is invalid.", {
            extensions: { code: "BAD_REQUEST", http: { status: 400 } },
          });
        }
        if (Number(contentLength) > limit) throw tooLarge();
      }
      if (!requestParser) return;
      const chunked = contentLength == null ? request.body : null;
      setRequestParser(async (req) => {
        try {
          if (!chunked) return await requestParser(req);
          // Reading stops half-way, which ends the connection: the 413 says so, or a client would send
          // its next request on it and get a reset connection instead of an answer.
          const read = await readBodyWithin(chunked, limit, () => tooLarge({ connection: "close" }));
          return await requestParser(
            new fetchAPI.Request(req.url, { method: req.method, headers: req.headers, signal: req.signal, body: read }),
          );
        } catch (error) {
          if (req.signal.aborted && !(error instanceof GraphQLError)) throw cutShort();
          throw error;
        }
      });
    },
  };
}
