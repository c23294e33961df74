/**
 * The chat user function. Run it with `cairn dev src/main.ts`, or behind a
 * production runtime with `node --import tsx src/main.ts`
 * (CAIRN_FUNCTION_PORT sets the port, 8080 by default).
 */
import { serve } from "@cairn/sdk";
import { likes } from "./likes.js";
import { chatRoom } from "./room.js";

// SIGTERM/SIGINT answer the commands already received, then exit.
await serve({ components: [chatRoom, likes], handleSignals: true });
