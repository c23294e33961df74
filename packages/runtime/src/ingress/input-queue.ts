/**
 * A bounded queue between a push source (a gRPC call's 'data' events, an
 * HTTP request body) and the pull-based `StreamInvocation.inputs` the
 * dispatcher iterates. Backpressure: when `limit` messages wait unread the
 * source is paused, and resumed once the reader has taken half of them, so a
 * fast client cannot make the runtime buffer without bound.
 */

/** Options of {@link createInputQueue}. */
export interface InputQueueOptions {
  /** Messages that may wait before the source is paused. */
  readonly limit: number;
  /** Stops the source (e.g. `call.pause()`). */
  readonly pause: () => void;
  /** Restarts the source (e.g. `call.resume()`). */
  readonly resume: () => void;
}

/** The writing side of the queue, and the iterable the dispatcher reads. */
export interface InputQueue<T> {
  /** Adds a message; ignored once the queue ended, failed or was abandoned. */
  push(message: T): void;
  /** The source ended (the client half-closed). */
  end(): void;
  /** The source failed: the reader's next `next()` rejects with `error`. */
  fail(error: unknown): void;
  readonly iterable: AsyncIterable<T>;
}

type Waiter<T> = {
  resolve: (r: IteratorResult<T, undefined>) => void;
  reject: (e: unknown) => void;
};

/** Creates an {@link InputQueue}. The iterable may be iterated once. */
export function createInputQueue<T>(options: InputQueueOptions): InputQueue<T> {
  const buffered: T[] = [];
  let waiter: Waiter<T> | undefined;
  let ended = false;
  let failure: { error: unknown } | undefined;
  // Set when the reader stops early (`return()`): nothing more is kept.
  let abandoned = false;
  let paused = false;

  const settle = (): void => {
    const w = waiter;
    if (w === undefined) return;
    if (failure !== undefined) {
      waiter = undefined;
      w.reject(failure.error);
    } else if (buffered.length > 0) {
      waiter = undefined;
      w.resolve({ value: buffered.shift() as T, done: false });
      maybeResume();
    } else if (ended || abandoned) {
      waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  };
  const maybeResume = (): void => {
    if (paused && buffered.length <= options.limit / 2) {
      paused = false;
      options.resume();
    }
  };
  const closed = (): boolean => ended || abandoned || failure !== undefined;

  const iterator: AsyncIterator<T, undefined> = {
    next: () =>
      new Promise<IteratorResult<T, undefined>>((resolve, reject) => {
        if (waiter !== undefined) {
          reject(new Error("inputs iterated concurrently: await each next() first"));
          return;
        }
        waiter = { resolve, reject };
        settle();
      }),
    return: () => {
      abandoned = true;
      buffered.length = 0;
      settle();
      return Promise.resolve({ value: undefined, done: true });
    },
  };
  let iterated = false;
  const iterable: AsyncIterable<T> = {
    [Symbol.asyncIterator]: () => {
      if (iterated) throw new Error("stream inputs can be iterated only once");
      iterated = true;
      return iterator;
    },
  };

  return {
    push(message) {
      if (closed()) return;
      buffered.push(message);
      if (!paused && buffered.length >= options.limit) {
        paused = true;
        options.pause();
      }
      settle();
    },
    end() {
      if (closed()) return;
      ended = true;
      settle();
    },
    fail(error) {
      if (failure !== undefined || abandoned) return;
      failure = { error };
      buffered.length = 0;
      settle();
    },
    iterable,
  };
}

/** Inputs of a server-streaming call: exactly its one request. */
export function singleInput<T>(message: T): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]: () => {
      let taken = false;
      return {
        next: (): Promise<IteratorResult<T, undefined>> => {
          const result: IteratorResult<T, undefined> = taken
            ? { value: undefined, done: true }
            : { value: message, done: false };
          taken = true;
          return Promise.resolve(result);
        },
      };
    },
  };
}
