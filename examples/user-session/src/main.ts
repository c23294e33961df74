/**
 * The user-session user function. Run it with `cairn dev src/main.ts`, or
 * behind a production runtime with `node --import tsx src/main.ts`
 * (CAIRN_FUNCTION_PORT sets the port, 8080 by default).
 */
import { serve } from "@cairn/sdk";
import { sessionFanout } from "./fanout.js";
import { userSession } from "./session.js";

// SIGTERM/SIGINT answer the commands already received, then exit.
await serve({ components: [userSession, sessionFanout], handleSignals: true });
