/** One structured log record: a message plus flat fields. */
export interface LogRecord {
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  [field: string]: unknown;
}

/**
 * Where the SDK writes its logs. The default writes one JSON line per record
 * on stderr, which log shippers (and the runtime's `cairn dev`) pick up as is.
 */
export type Logger = (record: LogRecord) => void;

/** The default logger: one JSON line per record on stderr, with a timestamp. */
export const stderrLogger: Logger = (record) => {
  const line = JSON.stringify({ time: new Date().toISOString(), ...record }, jsonSafe);
  process.stderr.write(line + "\n");
};

/** A logger that drops everything (the testkit's default). */
export const silentLogger: Logger = () => undefined;

/** Errors and bigints do not survive JSON.stringify on their own. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return describeError(value);
  return value;
}

/** The fields of an error worth logging, including its cause chain. */
export function describeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out: Record<string, unknown> = { name: err.name, message: err.message, stack: err.stack };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out["code"] = code;
  if (err.cause !== undefined) out["cause"] = describeError(err.cause);
  return out;
}
