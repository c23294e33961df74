/**
 * Human-readable runtime logs for `cairn dev`: the runtime's JSON lines
 * turned into `12:00:01 INFO  message key=value`. Production keeps JSON;
 * a developer at a terminal reads this far faster.
 */
import { escapeControlChars } from "@cairn/protocol/printable";

const LEVEL_WIDTH = 5;
/** Fields every line has, shown elsewhere in the line or not worth showing. */
const SKIPPED = new Set(["level", "time", "msg", "pid", "hostname", "name", "err"]);

/** pino's numeric levels, for loggers that keep pino's default numbers. */
const LEVELS: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

function levelName(level: unknown): string {
  if (typeof level === "string") return level;
  if (typeof level === "number") return LEVELS[level] ?? String(level);
  return "";
}

/** A pino destination that writes formatted lines with `write`. */
export function prettyDestination(write: (text: string) => void): { write(line: string): void } {
  return { write: (line) => write(formatLine(line)) };
}

/**
 * Formats one JSON log line (an object with `level` and `msg`); anything
 * else, such as a user's own JSON output, passes through unchanged. Decoding
 * the JSON brings back the control characters it escaped, so every value
 * is escaped again before it reaches the terminal.
 */
export function formatLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (
    typeof entry !== "object" ||
    entry === null ||
    typeof entry["msg"] !== "string" ||
    entry["level"] === undefined
  ) {
    return line;
  }
  const time = typeof entry["time"] === "string" ? entry["time"].slice(11, 19) : "";
  const level = levelName(entry["level"]).toUpperCase().padEnd(LEVEL_WIDTH);
  const fields = Object.entries(entry)
    .filter(([key]) => !SKIPPED.has(key))
    .map(
      ([key, value]) =>
        `${escapeControlChars(key)}=${escapeControlChars(typeof value === "string" ? value : JSON.stringify(value))}`,
    );
  const err = entry["err"] as { message?: string; stack?: string } | string | undefined;
  const error =
    err === undefined
      ? ""
      : `\n    ${escapeControlChars(typeof err === "string" ? err : (err.stack ?? err.message ?? ""), { keepNewlines: true })}`;
  return `${time} ${level} ${escapeControlChars(String(entry["msg"] ?? ""))}${fields.length > 0 ? `  ${fields.join(" ")}` : ""}${error}\n`;
}
