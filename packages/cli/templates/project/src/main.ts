/**
 * The user function: serves the components to the Cairn runtime.
 * `npm run dev` runs it with a local runtime; in production, `npm run build`
 * then `node dist/main.js` beside `cairn runtime` (CAIRN_FUNCTION_PORT sets
 * the port, 8080 by default).
 */
import { serve } from "@cairn/sdk";
import { counter } from "./counter.js";

// SIGTERM/SIGINT answer the commands already received, then exit.
await serve({ components: [counter], handleSignals: true });
