/**
 * Structured logs: one JSON object per line on stderr. stderr, not stdout,
 * because the CLI prints its own output (banners, call results) on stdout and
 * a pipe such as `cairn call ... | jq` must not receive log lines.
 */
import { pino } from "pino";
import type { DestinationStream, Logger as PinoLogger } from "pino";

/** The runtime's logger (pino's). */
export type Logger = PinoLogger;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level: trace, debug, info, warn, error, fatal or silent. */
  level: string;
  /** Logged as `name` on every line, e.g. "cairn-runtime". */
  name?: string;
  /** Where lines go; stderr when absent. Tests pass a stream to read them back. */
  destination?: DestinationStream;
}

/**
 * Creates a JSON-lines logger writing to stderr.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: "info", name: "cairn-runtime" });
 * log.info({ port: 9000 }, "ingress listening");
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  // Synchronous writes: a crashing process must not lose its last lines,
  // and the runtime logs far too little on hot paths for this to matter.
  const destination = options.destination ?? pino.destination({ dest: 2, sync: true });
  return pino(
    {
      level: options.level,
      ...(options.name === undefined ? {} : { name: options.name }),
      // ISO time reads better in `kubectl logs` than epoch milliseconds.
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
