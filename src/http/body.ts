/**
 * Request bodies under a byte limit (MAX_BODY_BYTES), for /graphql (src/http/plugins/body-size-limit.ts)
 * and the REST twin (src/http/rest/handler.ts). A valid Content-Length is checked as a number: Node's
 * HTTP parser hands over exactly that many bytes, never more. Only a body without one (chunked) is
 * read and counted as it arrives, and never held whole beyond the limit.
 */

/** One non-negative integer; anything else (a list, as in request smuggling) is invalid. */
export function isValidContentLength(value: string): boolean {
  return /^\d+$/.test(value);
}

/** Reads `body` whole, throwing `tooLarge()` (and cancelling the stream) once it passes `limit` bytes. */
export async function readBodyWithin(
  body: ReadableStream<Uint8Array>,
  limit: number,
  tooLarge: () => Error,
): Promise<Buffer<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
