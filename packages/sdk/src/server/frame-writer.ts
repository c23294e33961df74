/**
 * The writable side of a bidi stream, as grpc-js exposes it.
 */
export interface FrameSink<F> {
  write(frame: F): boolean;
  once(event: "drain", listener: () => void): unknown;
}

/**
 * Batches the messages produced in one turn of the event loop into a single
 * frame: at high rates the per-message cost of gRPC dominates, and replies of
 * many channels tend to become ready together. Respects backpressure: while
 * the stream's buffer is full, messages keep accumulating into the next frame.
 */
export class FrameWriter<M, F> {
  private pending: M[] = [];
  private scheduled = false;
  private blocked = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly sink: FrameSink<F>,
    private readonly toFrame: (messages: M[]) => F,
  ) {}

  /** Queues a message for the next frame. */
  push(message: M): void {
    if (this.closed) return;
    this.pending.push(message);
    this.schedule();
  }

  /** Resolves once every queued message has been handed to the stream. */
  idle(): Promise<void> {
    if (this.pending.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops whatever is queued; the stream is gone. */
  close(): void {
    this.closed = true;
    this.pending = [];
    this.notifyIdle();
  }

  private schedule(): void {
    if (this.scheduled || this.blocked) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.closed || this.pending.length === 0) return;
    const messages = this.pending;
    this.pending = [];
    const ok = this.sink.write(this.toFrame(messages));
    if (!ok) {
      this.blocked = true;
      this.sink.once("drain", () => {
        this.blocked = false;
        if (this.pending.length > 0) this.schedule();
        else this.notifyIdle();
      });
      return;
    }
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.pending.length > 0 && !this.closed) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
