/**
 * How the fuzzer judges one answer: a label to count it under, and a
 * problem when the runtime misbehaved. The rules of the harness: no hang,
 * no INTERNAL (HTTP 500, grpc-status 13, Connect "internal") without a
 * correlation id (an unexplained internal error), except the INTERNAL the
 * gRPC spec asks for, a compressed message without grpc-encoding.
 */
import type { CaseResult } from "./cases.js";

/** The verdict on one answer. */
export interface Verdict {
  /** What to count it under: `http 400`, `grpc 3`, `closed`, `reset`, `hang`. */
  readonly label: string;
  readonly problem?: string;
}

/** Markers of an internal error in any protocol's error body. */
const INTERNAL_MARKERS = [
  /"code":\s*13\b/,
  /"code":\s*"internal"/,
  /grpc-status:\s*13\b/,
  /"status":\s*"INTERNAL"/,
];

/** Judges one case's answer. */
export function judge(result: CaseResult): Verdict {
  const { answer } = result;
  switch (answer.kind) {
    case "hang":
      return {
        label: "hang",
        problem: `${result.slow === true ? "the runtime held a slow connection past its timeout" : "no answer in time"}${result.detail === undefined ? "" : ` (${result.detail})`}`,
      };
    case "closed":
      return { label: "closed" };
    case "reset":
      return { label: `reset ${answer.error}` };
    case "grpc": {
      const label =
        answer.status === undefined
          ? `grpc none (http ${answer.httpStatus})`
          : `grpc ${answer.status}`;
      if (answer.status === 13 && !explained(answer.message, result))
        return { label, problem: `INTERNAL without a correlation id: ${answer.message}` };
      return { label };
    }
    case "http": {
      const label = `http ${answer.status}`;
      const type = answer.headers["content-type"] ?? "";
      const text = type.startsWith("application/grpc-web-text")
        ? Buffer.from(answer.body.toString("latin1"), "base64").toString("latin1")
        : answer.body.toString("latin1");
      const internal = answer.status === 500 || INTERNAL_MARKERS.some((m) => m.test(text));
      if (internal && !explained(text, result))
        return { label, problem: `INTERNAL without a correlation id: ${text.slice(0, 300)}` };
      return { label };
    }
  }
}

function explained(message: string, result: CaseResult): boolean {
  // gRPC-Web trailers carry grpc-message percent-encoded.
  const text = message.replace(/%[0-9A-Fa-f]{2}/g, " ");
  if (/correlation.id/.test(text)) return true;
  return result.internalExpected === true && /compressed.flag|decompressed/.test(text);
}
