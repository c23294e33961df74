/**
 * One active entity (event-sourced or value): its channel to the user
 * function, its bounded mailbox, and its commit pipeline. What differs
 * between kinds (how to load, which messages, how to persist) is an
 * {@link EntityKind}; the flow below is shared.
 *
 * Commands go to the function in arrival order, pipelined: up to
 * `PIPELINE_WINDOW` are sent without waiting for the replies (the SDK handles
 * a channel's commands one at a time, in order, so semantics are those of one
 * command at a time; a hot entity just stops paying a round trip per
 * command). A reply's state change is persisted before the reply is
 * released: replies queue in `committing` and all changes that gathered
 * while a commit was in flight go to the store as ONE write (all-or-none for
 * the group). That keeps a hot entity's throughput bound by commands per
 * fsync, not fsyncs per second, while preserving the rules: nothing is
 * released before it is durable, and a reply that read state (even a pure
 * query) waits for the commits before it. If a commit fails, every reply
 * computed on top of it fails too and the entity restarts from the store.
 */
import { CairnError, Code } from "@cairn/protocol";
import type { ChannelFailure } from "@cairn/protocol";
import type { Invocation, InvocationResult, ServiceEntry } from "../core/types.js";
import { SequenceConflictError } from "../store/types.js";
import type { EntityRef } from "../store/types.js";
import type { ChannelListener, ChannelMux } from "./channel-mux.js";
import type { ComponentReply, EntityEnv } from "./entity-env.js";

/** A reply of any entity kind: the common part plus the kind's state change. */
export interface EntityReply extends ComponentReply {
  readonly commandId: bigint;
}

/** What is kind-specific about an entity. One object per kind, shared by its entities. */
export interface EntityKind<
  In,
  Out extends { readonly channelId: bigint },
  R extends EntityReply,
  Loaded,
> {
  /** The current stream multiplexer of this kind (replaced on reconnect). */
  mux(): ChannelMux<In, Out>;
  /** Reads what activation needs, and the position (sequence or version) it is at. */
  load(ref: EntityRef): Promise<{ loaded: Loaded; position: number }>;
  initMessages(channel: bigint, serviceName: string, entityId: string, loaded: Loaded): In[];
  commandMessage(channel: bigint, id: bigint, invocation: Invocation, entityId: string): In;
  closeMessage(channel: bigint): In;
  /** A reply or a channel failure; undefined for messages the entity ignores. */
  decode(message: Out): { reply: R } | { failure: ChannelFailure } | undefined;
  /** True when the reply changes state (a failure must not). */
  changesState(reply: R): boolean;
  /**
   * True when a reply must be the last of its write group (an event-sourced
   * snapshot is stored at the sequence of the group's last event, so a reply
   * carrying one closes the group).
   */
  endsGroup?(reply: R): boolean;
  /** Persists the state changes of consecutive replies as one write; resolves to the new position. */
  persist(ref: EntityRef, position: number, batch: readonly R[]): Promise<number>;
}

interface Pending {
  readonly invocation: Invocation;
  readonly deadline: number;
  readonly resolve: (result: InvocationResult) => void;
  readonly reject: (error: CairnError) => void;
}

interface InFlight {
  readonly command: Pending;
  readonly id: bigint;
  readonly timer: NodeJS.Timeout;
}

/**
 * Commands sent to the function and not answered yet. Bounded so that a
 * restart never has to re-queue more than this many.
 */
const PIPELINE_WINDOW = 32;

interface Replied<R> {
  readonly command: Pending;
  readonly reply: R;
}

export class Entity<
  In,
  Out extends { readonly channelId: bigint },
  R extends EntityReply,
  Loaded,
> implements ChannelListener<Out> {
  private channel: bigint | undefined;
  private activating = false;
  private readonly mailbox: Pending[] = [];
  /** Sent to the function, oldest first; replies come in this order. */
  private readonly inFlight: InFlight[] = [];
  private nextCommandId = 1n;
  private readonly committing: Replied<R>[] = [];
  private commitRunning = false;
  /** Sequence of the last durable event, or version of the durable state. */
  private position = 0;
  /** Epoch ms of the last activity, for passivation. */
  lastActive = Date.now();
  private closed = false;

  constructor(
    readonly service: ServiceEntry,
    readonly entityId: string,
    private readonly env: EntityEnv,
    private readonly kind: EntityKind<In, Out, R, Loaded>,
  ) {}

  private get ref(): EntityRef {
    return {
      entityType: this.service.entityType ?? this.service.desc.typeName,
      entityId: this.entityId,
    };
  }

  private get label(): string {
    return `${this.service.desc.typeName}/${this.entityId}`;
  }

  /** True when nothing is queued, running or committing. */
  get idle(): boolean {
    return (
      this.mailbox.length === 0 &&
      this.inFlight.length === 0 &&
      this.committing.length === 0 &&
      !this.commitRunning &&
      !this.activating
    );
  }

  get active(): boolean {
    return this.channel !== undefined;
  }

  /** Queues a command; rejects at once with RESOURCE_EXHAUSTED when the mailbox is full. */
  handle(invocation: Invocation): Promise<InvocationResult> {
    if (this.mailbox.length + this.inFlight.length >= this.env.mailboxCapacity) {
      this.env.metrics.mailboxRejected(this.service.desc.typeName);
      return Promise.reject(
        new CairnError(
          Code.ResourceExhausted,
          `entity ${this.label} is overloaded: ${this.mailbox.length + this.inFlight.length} commands are queued (mailbox capacity ${this.env.mailboxCapacity}); retry later`,
        ),
      );
    }
    const deadline = Math.min(
      invocation.deadline ?? Infinity,
      Date.now() + this.env.commandTimeoutMs,
    );
    return new Promise<InvocationResult>((resolve, reject) => {
      this.mailbox.push({ invocation, deadline, resolve, reject });
      this.lastActive = Date.now();
      this.pump();
    });
  }

  /** Passivates: closes the channel. Only call when idle. */
  passivate(): void {
    this.closed = true;
    this.closeChannel();
  }

  // ---- command flow -------------------------------------------------------

  private pump(): void {
    while (this.inFlight.length < PIPELINE_WINDOW && !this.activating && !this.closed) {
      const next = this.takeNext();
      if (next === undefined) return;
      if (this.channel === undefined) {
        this.mailbox.unshift(next);
        // Re-activation reads the journal: wait until our own commits landed
        // and every reply computed on the old channel is settled.
        if (this.commitRunning || this.committing.length > 0 || this.inFlight.length > 0) return;
        this.activate().catch((err: unknown) => this.fault(err));
        return;
      }
      this.send(next, this.channel);
    }
  }

  /** Next command whose deadline has not passed and whose client is still there. */
  private takeNext(): Pending | undefined {
    for (;;) {
      const next = this.mailbox.shift();
      if (next === undefined) return undefined;
      if (next.invocation.signal?.aborted) {
        next.reject(new CairnError(Code.Canceled, "the client cancelled the call"));
      } else if (Date.now() >= next.deadline) {
        next.reject(
          new CairnError(
            Code.DeadlineExceeded,
            `deadline passed while ${this.label} was busy with earlier commands`,
          ),
        );
      } else return next;
    }
  }

  private send(command: Pending, channel: bigint): void {
    const id = this.nextCommandId++;
    const inv = command.invocation;
    const timeoutMs = Math.max(0, command.deadline - Date.now());
    const timer = setTimeout(() => this.onTimeout(id, timeoutMs), timeoutMs);
    this.inFlight.push({ command, id, timer });
    this.kind.mux().send(this.kind.commandMessage(channel, id, inv, this.entityId));
  }

  private onTimeout(id: bigint, ms: number): void {
    const timedOut = this.inFlight.find((f) => f.id === id);
    if (timedOut === undefined) return;
    const method = timedOut.command.invocation.method.name;
    this.restart(
      "timeout",
      new CairnError(
        Code.DeadlineExceeded,
        `${this.service.desc.typeName}.${method} on entity '${this.entityId}' did not answer within ${ms} ms; the entity was restarted and nothing was persisted`,
      ),
      timedOut.command,
    );
    this.pump();
  }

  /** ChannelListener: a message from the user function for this channel. */
  onMessage(message: Out): void {
    const decoded = this.kind.decode(message);
    if (decoded === undefined) return;
    if ("reply" in decoded) this.onReply(decoded.reply);
    else {
      const f = decoded.failure;
      this.env.logger.warn(
        { entity: this.label, code: f.code, message: f.message },
        "entity failed in the user function; restarting it",
      );
      // The command it names (or the oldest one) fails; the others run again
      // after re-activation, so a poison command cannot loop forever.
      const culprit = this.inFlight.find((x) => x.id === f.commandId) ?? this.inFlight[0];
      this.restart(
        "failure",
        new CairnError(
          f.code === 0 ? Code.Internal : f.code,
          f.message || "entity failed in the user function",
        ),
        culprit?.command,
      );
      this.pump();
    }
  }

  /** ChannelListener: the stream to the function broke. */
  onLost(error: Error): void {
    this.channel = undefined;
    for (const f of this.inFlight.splice(0)) {
      clearTimeout(f.timer);
      f.command.reject(
        new CairnError(
          Code.Unavailable,
          `the user function went away while handling ${f.command.invocation.method.name} on ${this.label}: ${error.message}`,
        ),
      );
    }
    // Queued commands wait (within their deadlines) for the function to return.
    this.pump();
  }

  private onReply(reply: R): void {
    const inFlight = this.inFlight[0];
    if (inFlight === undefined || reply.commandId !== inFlight.id) {
      this.env.reportError(
        `reply for unknown command ${reply.commandId} on ${this.label}`,
        this.service.desc.typeName,
        this.entityId,
      );
      return;
    }
    clearTimeout(inFlight.timer);
    this.inFlight.shift();
    const action = reply.clientAction?.action;
    if (action?.case === "failure") {
      const f = action.value;
      if (this.kind.changesState(reply)) {
        this.env.reportError(
          `a failure reply carried a state change; it was dropped`,
          this.service.desc.typeName,
          this.entityId,
        );
      }
      const error = new CairnError(f.code === 0 ? Code.Unknown : f.code, f.message);
      if (f.restart) this.restart("failure", error, inFlight.command);
      else inFlight.command.reject(error);
    } else {
      const problem = this.env.checkReply(inFlight.command.invocation, reply);
      if (problem !== undefined) {
        // The function already applied the events in memory: it must forget them.
        this.restart("invalid reply", problem, inFlight.command);
      } else {
        this.committing.push({ command: inFlight.command, reply });
        this.runCommits().catch((err: unknown) => this.fault(err));
      }
    }
    this.lastActive = Date.now();
    this.pump();
  }

  // ---- persistence --------------------------------------------------------

  private async runCommits(): Promise<void> {
    if (this.commitRunning) return;
    this.commitRunning = true;
    try {
      while (this.committing.length > 0) {
        const cut = this.committing.findIndex((r) => this.kind.endsGroup?.(r.reply) === true);
        const batch = this.committing.splice(0, cut === -1 ? this.committing.length : cut + 1);
        const changes = batch.some((r) => this.kind.changesState(r.reply));
        if (changes && !(await this.persist(batch))) return;
        for (const r of batch) this.release(r);
      }
    } finally {
      this.commitRunning = false;
      this.lastActive = Date.now();
      this.pump();
    }
  }

  private async persist(batch: Replied<R>[]): Promise<boolean> {
    try {
      this.position = await this.kind.persist(
        this.ref,
        this.position,
        batch.map((r) => r.reply),
      );
      return true;
    } catch (err) {
      const conflict = err instanceof SequenceConflictError;
      const limit = err instanceof Error && err.name === "TimerLimitError";
      const error = limit
        ? new CairnError(Code.ResourceExhausted, err.message, { cause: err })
        : conflict
          ? new CairnError(
              Code.Aborted,
              `another writer changed ${this.label} concurrently; the command was not applied, retry it`,
              { cause: err },
            )
          : new CairnError(
              Code.Unavailable,
              `could not persist the state of ${this.label}: ${(err as Error).message}`,
              { cause: err },
            );
      this.env.logger.error({ entity: this.label, err }, "persist failed; restarting the entity");
      // Everything computed on top of the lost change is invalid too.
      for (const r of [...batch, ...this.committing.splice(0)]) r.command.reject(error);
      this.restart("store", error, undefined, false);
      return false;
    }
  }

  private release(replied: Replied<R>): void {
    this.env
      .release(replied.command.invocation, replied.reply)
      .then(replied.command.resolve, (err: unknown) => {
        replied.command.reject(CairnError.from(err));
      });
  }

  // ---- lifecycle ----------------------------------------------------------

  private async activate(): Promise<void> {
    this.activating = true;
    try {
      const first = this.mailbox[0];
      const waitMs = (first?.deadline ?? Date.now()) - Date.now();
      if (!(await this.env.connection.whenConnected(waitMs))) {
        this.failQueued(
          new CairnError(
            Code.Unavailable,
            `the user function is not available (${this.env.connection.status}); retry later`,
          ),
        );
        return;
      }
      const { loaded, position } = await this.kind.load(this.ref);
      const mux = this.kind.mux();
      const channel = mux.openChannel(this);
      if (channel === undefined) {
        this.failQueued(
          new CairnError(
            Code.Unavailable,
            `the user function connection dropped while activating ${this.label}; retry`,
          ),
        );
        return;
      }
      for (const m of this.kind.initMessages(
        channel,
        this.service.desc.typeName,
        this.entityId,
        loaded,
      )) {
        mux.send(m);
      }
      this.position = position;
      this.channel = channel;
      this.env.activated(this);
    } catch (err) {
      this.env.logger.error({ entity: this.label, err }, "activation failed");
      this.failQueued(
        new CairnError(
          Code.Unavailable,
          `could not activate ${this.label}: ${(err as Error).message}`,
          { cause: err },
        ),
      );
    } finally {
      this.activating = false;
    }
    this.pump();
  }

  /**
   * A bug in the engine itself (store and function failures are handled
   * where they happen): everything it holds fails, with an outcome the
   * client cannot know, and the entity starts over from the store.
   */
  private fault(err: unknown): void {
    this.env.logger.error(
      { entity: this.label, err },
      "entity engine failed; restarting the entity",
    );
    const error = new CairnError(
      Code.Internal,
      `the runtime failed while handling ${this.label}; the outcome of the commands in progress is unknown`,
      { cause: err },
    );
    for (const r of this.committing.splice(0)) r.command.reject(error);
    this.restart("engine fault", error, undefined, false);
    this.failQueued(error);
  }

  private failQueued(error: CairnError): void {
    for (const p of this.mailbox.splice(0)) p.reject(error);
  }

  /**
   * Drops the channel; the next command re-activates from the store.
   * `command` fails with `error`. The other commands sent on the channel and
   * not answered yet were computed (if at all) on state that is now
   * discarded and nothing of them was persisted: they go back to the front
   * of the mailbox and run again after re-activation, unless `requeue` is
   * false (the store failed), in which case they fail with `error` too.
   * Replies already being committed keep their place: their events are valid.
   */
  private restart(reason: string, error: CairnError, command?: Pending, requeue = true): void {
    const pending = this.inFlight.splice(0);
    for (const f of pending) clearTimeout(f.timer);
    const others = pending.map((f) => f.command).filter((c) => c !== command);
    command?.reject(error);
    if (requeue) this.mailbox.unshift(...others);
    else for (const c of others) c.reject(error);
    this.closeChannel();
    this.env.restarted(this, reason);
  }

  private closeChannel(): void {
    const channel = this.channel;
    if (channel === undefined) return;
    this.channel = undefined;
    const mux = this.kind.mux();
    mux.send(this.kind.closeMessage(channel));
    mux.closeChannel(channel);
    this.env.deactivated(this);
  }
}
