/**
 * Structured logs: one JSON object per line on stderr. stderr, not stdout,
 * because the CLI prints its own output (banners, call results) on stdout and
 * a pipe such as `cairn call ... | jq` must not receive log lines.
 */
import { escapeControlChars } from "@cairn/protocol";
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
      // Client-chosen text (entity ids, error messages) is printed
      // escaped, so that a log line can never drive a terminal: in fields,
      // in the message, and in errors (their stack keeps its line breaks).
      formatters: { level: (label) => ({ level: label }), log: (obj) => escapeFields(obj, 0) },
      serializers: { err: (err: Error) => escapeError(pino.stdSerializers.err(err)) },
      hooks: {
        logMethod(args: unknown[], method) {
          method.apply(
            this,
            args.map((a) => (typeof a === "string" ? escapeControlChars(a) : a)) as Parameters<
              typeof method
            >,
          );
        },
      },
    },
    destination,
  );
}

/** Nesting followed when escaping logged fields; deeper values are logged as they are. */
const ESCAPE_DEPTH = 4;

/** A logged object with its strings escaped; errors are left to their serializer. */
function escapeFields(obj: Record<string, unknown>, depth: number): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(obj)) {
    const escaped = escapeValue(value, depth);
    if (escaped === value) continue;
    out ??= { ...obj };
    out[key] = escaped;
  }
  return out ?? obj;
}

function escapeValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") return escapeControlChars(value);
  if (depth >= ESCAPE_DEPTH || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    const items = value.map((v) => escapeValue(v, depth + 1));
    return items.some((v, i) => v !== value[i]) ? items : value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  return escapeFields(value as Record<string, unknown>, depth + 1);
}

function escapeError(err: ReturnType<typeof pino.stdSerializers.err>): unknown {
  return {
    ...escapeFields(err, 0),
    ...(typeof err.stack === "string"
      ? { stack: escapeControlChars(err.stack, { keepNewlines: true }) }
      : {}),
  };
}
