import { CairnError, Code } from "@cairn/protocol";
import type {
  Metadata,
  StreamingDispatcher,
  StreamInvocation,
  StreamResult,
} from "../core/types.js";
import { toClientError } from "./status.js";

/**
 * Where a streaming call's answer goes; one per wire protocol (gRPC, SSE,
 * Connect, gRPC-Web). The {@link StreamCall} guarantees the order: `begin`
 * at most once, then `write`s, then exactly one of `end` or `fail` — except
 * that `fail` may come without `begin` (the call failed before it started).
 */
export interface StreamSink {
  /** The response metadata, before any message. */
  begin(metadata: Metadata): void;
  /** Writes one output message; a returned promise holds the next write back (backpressure). */
  write(message: Uint8Array): Promise<void> | undefined;
  /** The outputs ended well. */
  end(): void;
  /** The call failed; the sink knows whether it already wrote anything. */
  fail(error: CairnError): void;
}

/** One streaming call between a transport and the dispatcher. */
export interface StreamCall {
  /** Aborted when the call ends early: client gone, deadline, invalid input. */
  readonly signal: AbortSignal;
  /** Ends the call with `error` (e.g. an invalid input message) and stops the dispatcher. */
  fail(error: CairnError): void;
  /** The client went away: stop the dispatcher, write nothing more. */
  cancel(): void;
  /**
   * Dispatches the call and pumps its outputs into the sink until they end,
   * fail or the call is stopped. Never rejects.
   */
  run(
    dispatcher: StreamingDispatcher,
    invocation: Omit<StreamInvocation, "signal">,
    timeoutMs?: number,
  ): Promise<void>;
}

/**
 * Creates a {@link StreamCall}. `onInternal` receives each failure as the
 * client sees it; one that was not a CairnError is an InternalError, whose
 * cause and correlation id belong in the log (see logInternal).
 */
export function createStreamCall(
  sink: StreamSink,
  name: string,
  onInternal: (e: CairnError) => void,
): StreamCall {
  const abort = new AbortController();
  const aborted = new Promise<void>((resolve) =>
    abort.signal.addEventListener("abort", () => resolve(), { once: true }),
  );
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  // The outputs being pumped; cleared once they are exhausted, so that
  // only a stream stopped early gets `return()`.
  let outputs: AsyncIterator<Uint8Array> | undefined;

  const stop = (): void => {
    clearTimeout(timer);
    abort.abort();
    const it = outputs;
    outputs = undefined;
    closeIterator(it);
  };
  const fail = (error: CairnError): void => {
    if (finished) return;
    finished = true;
    stop();
    sink.fail(error);
  };
  const failWith = (err: unknown): void => {
    if (finished) return;
    const e = toClientError(err);
    onInternal(e);
    fail(e);
  };

  const pump = async (it: AsyncIterator<Uint8Array>): Promise<void> => {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await it.next();
      } catch (err) {
        outputs = undefined; // a throwing iterator is done; no return()
        failWith(err);
        return;
      }
      if (finished) return;
      if (next.done === true) break;
      const wait = sink.write(next.value);
      // The transport may never drain once the client is gone: the abort ends the wait.
      if (wait !== undefined) await Promise.race([wait, aborted]);
      if (finished) return;
    }
    outputs = undefined;
    finished = true;
    clearTimeout(timer);
    sink.end();
  };

  const run = async (
    dispatcher: StreamingDispatcher,
    invocation: Omit<StreamInvocation, "signal">,
    timeoutMs?: number,
  ): Promise<void> => {
    if (timeoutMs !== undefined) {
      timer = setTimeout(
        () =>
          fail(
            new CairnError(
              Code.DeadlineExceeded,
              `deadline of ${timeoutMs} ms exceeded calling ${name}`,
            ),
          ),
        timeoutMs,
      );
    }
    let result: StreamResult;
    try {
      result = await dispatcher.dispatchStream({ ...invocation, signal: abort.signal });
    } catch (err) {
      failWith(err);
      return;
    }
    const it = result.outputs[Symbol.asyncIterator]();
    // Stopped while the dispatcher was starting: close what it started.
    if (finished) return closeIterator(it);
    outputs = it;
    try {
      sink.begin(result.metadata);
      await pump(it);
    } catch (err) {
      // A sink that throws lost its transport (a destroyed socket).
      failWith(err);
    }
  };

  return {
    signal: abort.signal,
    fail,
    cancel: () => {
      if (finished) return;
      finished = true;
      stop();
    },
    run,
  };
}

/** Calls `return()` so the producer of a stream stopped early can release what it holds. */
function closeIterator(it: AsyncIterator<Uint8Array> | undefined): void {
  if (it?.return === undefined) return;
  try {
    it.return().catch(() => {});
  } catch {
    // A producer failing to close has nobody left to tell.
  }
}
