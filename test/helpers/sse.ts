import { setTimeout as sleep } from "node:timers/promises";

/** Subscription.organizationEvents with every field of AuditEvent. */
const SUBSCRIBE = /* GraphQL */ `
  subscription ($o: ID!) {
    organizationEvents(organizationId: $o) { id action targetId createdAt actor { id } }
  }
`;

export interface SseMessage {
  event: string;
  data: any;
}

/**
 * Subscription.organizationEvents over SSE on a real socket: `fetch` with `accept:
 * text/event-stream`, read message by message; `close` aborts the request (the client leaves).
 */
export async function subscribe(baseUrl: string, token: string | null, organizationId: string) {
  const controller = new AbortController();
  const headers: Record<string, string> = { accept: "text/event-stream", "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: SUBSCRIBE, variables: { o: organizationId } }),
    signal: controller.signal,
  });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    /** The next message (pings skipped); null when the stream ended. */
    async next(timeoutMs = 30_000): Promise<SseMessage | null> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split("\n");
          const event = lines
            .find((l) => l.startsWith("event:"))
            ?.slice(6)
            .trim();
          const data = lines
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trim())
            .join("\n");
          if (!event && !data) continue; // a ping (":")
          return { event: event ?? "message", data: data ? JSON.parse(data) : null };
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no SSE message within ${timeoutMs} ms; buffer: ${buffer}`);
        const chunk = await Promise.race([reader.read(), sleep(left).then(() => "timeout" as const)]);
        if (chunk === "timeout") continue;
        if (chunk.done) return null;
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    close: () => controller.abort(),
  };
}
