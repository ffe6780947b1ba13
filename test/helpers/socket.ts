import { request } from "node:http";

/**
 * POSTs a JSON `body` to 127.0.0.1:`port``path` over a real socket, written in chunks of 1000
 * bytes, with `Transfer-Encoding: chunked` unless `contentLength` is given (then declared as is).
 */
export function postInChunks(
  port: number,
  path: string,
  body: string,
  contentLength?: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { "content-type": "application/json" };
    if (contentLength !== undefined) headers["content-length"] = contentLength;
    const req = request({ host: "127.0.0.1", port, path, method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    for (let i = 0; i < body.length; i += 1000) req.write(body.slice(i, i + 1000));
    req.end();
  });
}
