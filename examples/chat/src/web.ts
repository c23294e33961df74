/**
 * The chat page: a tiny static server for web/ (the page talks to the
 * runtime's ingress directly, which must allow the page's origin:
 * `cairn runtime --cors-origins http://127.0.0.1:*`).
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { join } from "node:path";

const WEB = join(import.meta.dirname, "../web");
const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/chat.js": { file: "chat.js", type: "text/javascript; charset=utf-8" },
};

/** Options of {@link startWebServer}. */
export interface WebOptions {
  /** Port of the page; 0 picks a free one. */
  readonly port: number;
  readonly host: string;
  /** The runtime's ingress, as the browser reaches it. */
  readonly runtime: string;
}

/** Serves the page; resolves with the server once it listens. */
export function startWebServer(options: WebOptions): Promise<Server> {
  const config = JSON.stringify({ runtime: options.runtime });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/config.json") {
      res.writeHead(200, { "content-type": "application/json" }).end(config);
      return;
    }
    const entry = FILES[path];
    if (entry === undefined || req.method !== "GET") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": entry.type, "cache-control": "no-cache" });
    res.end(readFileSync(join(WEB, entry.file)));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve(server));
  });
}
