import type { IncomingMessage } from "node:http";
import { StringDecoder } from "node:string_decoder";
import type { JsonValue, Registry } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import type { MethodTarget } from "./catalog-view.js";
import { BodyTooLargeError } from "./http-body.js";
import { createInputQueue } from "./input-queue.js";
import type { InputQueue } from "./input-queue.js";
import type { ResolvedOptions } from "./options.js";
import type { Parsed } from "./status.js";
import type { StreamCall } from "./stream-call.js";
import { jsonToBinary } from "./transcode.js";

/** Parses what arrived so far; returns an error to end the call, undefined to go on. */
type Feed = (chunk: Buffer, queue: InputQueue<Uint8Array>) => CairnError | undefined;

/**
 * Request messages of a client- or bidi-streaming call read from the body
 * as it arrives: a full queue pauses the request, so a long upload is never
 * held whole, and a bidi client may interleave requests and replies. A bad
 * message ends the call with its error.
 */
function readInputs(
  req: IncomingMessage,
  target: MethodTarget,
  options: ResolvedOptions,
  call: StreamCall,
  feed: Feed,
  atEnd: (queue: InputQueue<Uint8Array>) => CairnError | undefined,
): AsyncIterable<Uint8Array> {
  // A client that stops sending while we read is cut after idleTimeoutMs;
  // the clock stops while we hold the request back (a full queue).
  const idle = createIdleTimer(options.idleTimeoutMs, () => {
    options.metrics.timedOut("idle");
    stop(
      new CairnError(
        Code.DeadlineExceeded,
        `request stream of ${target.name} idle for ${options.idleTimeoutMs} ms (idleTimeoutMs): no bytes arrived; send a message (or a blank NDJSON line) at least that often, or end the request`,
      ),
    );
  });
  const queue = createInputQueue<Uint8Array>({
    limit: options.streamInputBuffer,
    pause: () => {
      idle.stop();
      req.pause();
    },
    resume: () => {
      idle.start();
      req.resume();
    },
  });
  let stopped = false;
  const stop = (error: CairnError): void => {
    stopped = true;
    idle.finish();
    req.off("data", onData);
    // Read and drop the rest, so the connection stays usable.
    req.resume();
    queue.fail(error);
    call.fail(error);
  };
  const onData = (chunk: Buffer): void => {
    idle.start();
    const error = feed(chunk, queue);
    if (error !== undefined) stop(error);
  };
  idle.start();
  req.on("data", onData);
  req.once("end", () => {
    idle.finish();
    if (stopped) return;
    const error = atEnd(queue);
    if (error !== undefined) stop(error);
    else queue.end();
  });
  req.once("close", () => idle.finish());
  call.signal.addEventListener("abort", () => {
    idle.finish();
    queue.fail(new CairnError(Code.Canceled, `call ${target.name} ended`));
  });
  return queue.iterable;
}

/** A restartable one-shot timer: `start` (re)starts it, `stop` pauses it, `finish` ends it for good. */
function createIdleTimer(
  ms: number,
  onIdle: () => void,
): { start(): void; stop(): void; finish(): void } {
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  const stop = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  return {
    start: () => {
      if (finished) return;
      if (timer === undefined) timer = setTimeout(onIdle, ms);
      else timer.refresh();
    },
    stop,
    finish: () => {
      finished = true;
      stop();
    },
  };
}

function invalid(target: MethodTarget, why: string): CairnError {
  return new CairnError(Code.InvalidArgument, `invalid request body for ${target.name}: ${why}`);
}

/** NDJSON: one request message per line, protobuf JSON; blank lines are skipped. */
export function ndjsonInputs(
  req: IncomingMessage,
  target: MethodTarget,
  registry: Registry,
  options: ResolvedOptions,
  call: StreamCall,
): AsyncIterable<Uint8Array> {
  const text = new StringDecoder("utf8");
  let rest = "";
  let line = 0;
  const limit = options.maxRequestBytes;
  const take = (raw: string, queue: InputQueue<Uint8Array>): CairnError | undefined => {
    line++;
    // Characters first: a line of fewer UTF-16 units than limit/3 cannot be over it.
    if (raw.length * 3 > limit) {
      const bytes = Buffer.byteLength(raw);
      if (bytes > limit) return new BodyTooLargeError(`NDJSON line ${line}`, bytes, limit);
    }
    if (raw.trim() === "") return undefined;
    let json: JsonValue;
    try {
      json = JSON.parse(raw) as JsonValue;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return invalid(target, `line ${line}: malformed JSON: ${why}`);
    }
    const msg = jsonToBinary(json, target, registry);
    if (msg.error !== undefined) return invalid(target, `line ${line}: ${msg.error.message}`);
    queue.push(msg.value);
    return undefined;
  };
  const feed: Feed = (chunk, queue) => {
    rest += text.write(chunk);
    for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n")) {
      const error = take(rest.slice(0, nl), queue);
      rest = rest.slice(nl + 1);
      if (error !== undefined) return error;
    }
    // A line still arriving: refused once it cannot fit, without waiting for its end.
    if (rest.length > limit && Buffer.byteLength(rest) > limit)
      return new BodyTooLargeError(`NDJSON line ${line + 1}`, Buffer.byteLength(rest), limit, true);
    return undefined;
  };
  const atEnd = (queue: InputQueue<Uint8Array>): CairnError | undefined =>
    take(rest + text.end(), queue);
  return readInputs(req, target, options, call, feed, atEnd);
}

/**
 * Connect streaming envelopes (flag byte, 4-byte big-endian length,
 * payload), each decoded by `decode` as it completes.
 */
export function envelopeInputs(
  req: IncomingMessage,
  target: MethodTarget,
  decode: (payload: Buffer) => Parsed<Uint8Array>,
  options: ResolvedOptions,
  call: StreamCall,
): AsyncIterable<Uint8Array> {
  let pending: Buffer = Buffer.alloc(0);
  const feed: Feed = (chunk, queue) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const flags = pending[0] as number;
      const length = pending.readUInt32BE(1);
      if (length > options.maxRequestBytes)
        return new BodyTooLargeError("Connect request message", length, options.maxRequestBytes);
      if (pending.length < 5 + length) break;
      if ((flags & 0x01) !== 0)
        return new CairnError(
          Code.Unimplemented,
          "compressed Connect messages are not supported; send them uncompressed",
        );
      const msg = decode(pending.subarray(5, 5 + length));
      if (msg.error !== undefined) return msg.error;
      queue.push(msg.value);
      pending = pending.subarray(5 + length);
    }
    return undefined;
  };
  const atEnd = (): CairnError | undefined =>
    pending.length === 0
      ? undefined
      : invalid(target, `the body ends inside an envelope (${pending.length} bytes left over)`);
  return readInputs(req, target, options, call, feed, atEnd);
}

/** Inputs already decoded (a JSON array body). */
export function arrayInputs(messages: Uint8Array[]): AsyncIterable<Uint8Array> {
  const queue = createInputQueue<Uint8Array>({
    limit: Number.MAX_SAFE_INTEGER,
    pause: () => {},
    resume: () => {},
  });
  for (const m of messages) queue.push(m);
  queue.end();
  return queue.iterable;
}
