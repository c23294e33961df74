/**
 * The chat user function. Run it with `cairn dev src/main.ts`, or behind a
 * production runtime with `node --import tsx src/main.ts`
 * (CAIRN_FUNCTION_PORT sets the port, 8080 by default).
 *
 * It also serves the chat page on CHAT_WEB_PORT (8081 by default; "off" for
 * none), for a runtime at CHAT_RUNTIME_URL (default http://127.0.0.1:9000)
 * started with `--cors-origins http://127.0.0.1:*`.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@cairn/sdk";
import { likes } from "./likes.js";
import { chatRoom } from "./room.js";
import { startWebServer } from "./web.js";

// SIGTERM/SIGINT answer the commands already received, then exit.
await serve({ components: [chatRoom, likes], handleSignals: true });

const webPort = process.env["CHAT_WEB_PORT"] ?? "8081";
if (webPort !== "off") {
  const host = process.env["CAIRN_FUNCTION_HOST"] ?? "127.0.0.1";
  const runtime = process.env["CHAT_RUNTIME_URL"] ?? "http://127.0.0.1:9000";
  const web = await startWebServer({ port: Number(webPort), host, runtime });
  const { port } = web.address() as AddressInfo;
  // One JSON line, like the SDK's: where to open the page.
  process.stderr.write(
    `${JSON.stringify({ level: "info", msg: "chat page ready", url: `http://${host}:${port}/`, webPort: port })}\n`,
  );
}
