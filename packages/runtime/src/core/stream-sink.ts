/**
 * The output side of a streamed entity command (a replicated entity's
 * subscription): the entity pushes messages as the function produces them,
 * the ingress pulls them from `iterable`. Bounded: a subscriber that falls
 * `limit` messages behind is cut off with RESOURCE_EXHAUSTED instead of
 * making the runtime buffer without end.
 */
import { CairnError, Code } from "@cairn/protocol";

/**
 * The output of a streamed command whose reply had no message: the stream
 * starts with the messages that follow. Compared by identity.
 */
export const NO_OUTPUT: Uint8Array = new Uint8Array(0);

/** Where a streamed command's further messages go. */
export interface StreamSink {
  /** One more message (binary protobuf of the method's output). */
  push(output: Uint8Array): void;
  /** The stream ends: normally, or with `error`. Later calls are ignored. */
  end(error?: CairnError): void;
  /** True once ended (by either side). */
  readonly ended: boolean;
}

/** A {@link StreamSink} and the iterable that drains it. */
export interface StreamQueue extends StreamSink {
  /** Yields the messages in order; may be iterated once. Stopping early abandons the stream. */
  readonly iterable: AsyncIterable<Uint8Array>;
}

/** Creates a {@link StreamQueue}; `onAbandon` runs when the reader stops before the end. */
export function createStreamQueue(
  limit: number,
  what: string,
  onAbandon: () => void = () => undefined,
): StreamQueue {
  const buffered: Uint8Array[] = [];
  let finished: { error?: CairnError } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const queue: StreamQueue = {
    push(output) {
      if (finished !== undefined) return;
      if (buffered.length >= limit) {
        queue.end(
          new CairnError(
            Code.ResourceExhausted,
            `the subscriber of ${what} fell ${limit} messages behind; the stream was ended (resubscribe)`,
          ),
        );
        return;
      }
      buffered.push(output);
      notify();
    },
    end(error) {
      if (finished !== undefined) return;
      finished = error === undefined ? {} : { error };
      notify();
    },
    get ended() {
      return finished !== undefined;
    },
    iterable: {
      [Symbol.asyncIterator]: () => ({
        async next(): Promise<IteratorResult<Uint8Array, undefined>> {
          for (;;) {
            const value = buffered.shift();
            if (value !== undefined) return { value, done: false };
            if (finished !== undefined) {
              if (finished.error !== undefined) throw finished.error;
              return { value: undefined, done: true };
            }
            await new Promise<void>((r) => (wake = r));
          }
        },
        return(): Promise<IteratorResult<Uint8Array, undefined>> {
          if (finished === undefined) {
            finished = {};
            buffered.length = 0;
            onAbandon();
          }
          return Promise.resolve({ value: undefined, done: true });
        },
      }),
    },
  };
  return queue;
}
