import type { ServerResponse } from "node:http";

/** Answers with a whole body, never cached: every page and probe here changes with the server's state or build. */
export function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { "content-type": type, "cache-control": "no-cache" });
  response.end(body);
}
