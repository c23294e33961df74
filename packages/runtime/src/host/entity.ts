/**
 * One active entity (event-sourced, value or replicated): its channel to the user
 * function, its bounded mailbox, and its commit pipeline. What differs
 * between kinds (how to load, which messages, how to persist) is an
 * {@link EntityKind}; the flow below is shared.
 *
 * Commands go to the function in arrival order, pipelined: up to
 * `PIPELINE_WINDOW` are sent without waiting for the replies (the SDK handles
 * a channel's commands one at a time, in order, so semantics are those of one
 * command at a time; a hot entity just stops paying a round trip per
 * command). A reply's state change is persisted before the reply is
 * released, in groups (entity-commits.ts). If a commit fails, every reply
 * computed on top of it fails too and the entity restarts from the store.
 *
 * Two clocks run for a command in flight, deliberately apart. The client's
 * deadline ends only that client's wait: it gets DEADLINE_EXCEEDED, and the
 * command, already with the function, completes normally; its outcome
 * stands (as with any unknown-outcome failure), and its effects and forward
 * still run. The runtime's command timeout measures the function: if the
 * oldest command in flight gets no answer within it, the function stopped
 * answering and the entity is restarted. Every restart is logged with its
 * cause and counted by reason.
 */
import { CairnError, Code } from "@cairn/protocol";
import type { CancelTimeout } from "../core/clock.js";
import { CommandFailedError, outcomeRecord } from "../core/idempotency.js";
import { storeError } from "../core/store-errors.js";
import type { Invocation, InvocationResult, ServiceEntry } from "../core/types.js";
import type { EntityRef } from "../store/types.js";
import type { ChannelListener } from "./channel-mux.js";
import { CommitQueue } from "./entity-commits.js";
import type { Replied } from "./entity-commits.js";
import type { EntityKind, EntityReply } from "./entity-kind.js";
import type { EntityEnv } from "./entity-env.js";

export type { EntityKind, EntityReply } from "./entity-kind.js";

interface Pending {
  readonly invocation: Invocation;
  /** The client's deadline, epoch ms. */
  readonly deadline: number;
  /** When it reached this entity, epoch ms: what a late command's message counts from. */
  readonly queuedAt: number;
  readonly resolve: (result: InvocationResult) => void;
  readonly reject: (error: CairnError) => void;
  /** Answers the client before the command's outcome is known (its deadline passed). */
  readonly answerEarly: (error: CairnError) => void;
  /** Set when the client was answered before the command completed (its deadline passed). */
  clientGone?: boolean;
}

interface InFlight {
  readonly command: Pending;
  readonly id: bigint;
  /** Ends the client's wait at its deadline. */
  readonly cancelDeadline: CancelTimeout;
}

/** Why an entity restarts: the `reason` label of cairn_entity_restarts_total. */
export type RestartReason =
  | "command_timeout"
  | "function_failure"
  | "channel_failure"
  | "invalid_reply"
  | "store_failure"
  | "engine_fault";

/**
 * Commands sent to the function and not answered yet. Bounded so that a
 * restart never has to re-queue more than this many.
 */
export const PIPELINE_WINDOW = 32;

/** One active entity instance; see the module doc. */
export class Entity<
  In,
  Out extends { readonly channelId: bigint },
  R extends EntityReply,
  Loaded,
> implements ChannelListener<Out> {
  private channel: bigint | undefined;
  private activating = false;
  /** When the last activation completed, epoch ms; commands queued before it waited for it. */
  private activatedAt = -Infinity;
  private readonly mailbox: Pending[] = [];
  /** Sent to the function, oldest first; replies come in this order. */
  private readonly inFlight: InFlight[] = [];
  /** The command timeout of the oldest command in flight. */
  private cancelHeadTimeout: CancelTimeout = () => {};
  private nextCommandId = 1n;
  private readonly commits: CommitQueue<Pending, R>;
  /** Sequence of the last durable event, or version of the durable state. */
  private position = 0;
  /** Epoch ms of the last activity, for passivation. */
  lastActive: number;
  private closed = false;

  constructor(
    readonly service: ServiceEntry,
    readonly entityId: string,
    private readonly env: EntityEnv,
    private readonly kind: EntityKind<In, Out, R, Loaded>,
  ) {
    this.lastActive = env.clock.now();
    this.commits = new CommitQueue<Pending, R>({
      // A keyed command's outcome is written even when it changes nothing else.
      changesState: (r) =>
        kind.changesState(r.reply) || r.command.invocation.idempotency !== undefined,
      endsGroup: (reply) => kind.endsGroup?.(reply) === true,
      persist: async (batch) => {
        const ref = this.ref;
        const records = batch.flatMap((r) => {
          const key = r.command.invocation.idempotency;
          return key === undefined ? [] : [outcomeRecord(ref, key, r.reply)];
        });
        const replies = batch.map((r) => r.reply);
        this.position = await kind.persist(ref, this.position, replies, records);
      },
      release: (r) => this.release(r),
      failed: (err, lost) => this.persistFailed(err, lost),
      settled: () => {
        this.lastActive = this.env.clock.now();
        this.pump();
      },
    });
  }

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
      !this.commits.busy &&
      !this.activating &&
      this.kind.holdsStreams?.(this.ref) !== true
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
          `entity ${this.label} is overloaded: ${this.mailbox.length + this.inFlight.length} commands are queued (mailbox capacity ${this.env.mailboxCapacity}, runtime option --mailbox-capacity); retry later`,
        ),
      );
    }
    const now = this.env.clock.now();
    const deadline = invocation.deadline ?? now + this.env.commandTimeoutMs;
    const completion = invocation.completion;
    return new Promise<InvocationResult>((resolve, reject) => {
      // The command's fate is decided when resolve or reject is called for
      // it; answerEarly only ends the client's wait (its deadline passed).
      this.mailbox.push({
        invocation,
        deadline,
        queuedAt: now,
        resolve: (result) => {
          resolve(result);
          completion?.finished();
        },
        reject: (error) => {
          reject(error);
          completion?.finished();
        },
        answerEarly: reject,
      });
      completion?.accepted();
      this.lastActive = now;
      this.pump();
    });
  }

  /** Passivates: closes the channel. Only call when idle. */
  passivate(): void {
    this.closed = true;
    this.closeChannel();
    this.kind.passivated?.(this.ref);
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
        if (this.commits.busy || this.inFlight.length > 0) return;
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
      } else if (this.env.clock.now() >= next.deadline) {
        next.reject(this.lateError(next));
      } else return next;
    }
  }

  /** The error of a command whose deadline passed before it could start: what it waited for, how long, and its deadline. */
  private lateError(late: Pending): CairnError {
    const now = this.env.clock.now();
    const ahead = this.inFlight.length;
    const waitedFor =
      ahead > 0
        ? `behind ${ahead} earlier commands`
        : late.queuedAt <= this.activatedAt
          ? "while the entity was activated (its state loaded from the store)"
          : "in its mailbox";
    const what = `${late.invocation.method.name} on ${this.label}`;
    const budget = Math.max(0, late.deadline - late.queuedAt);
    return new CairnError(
      Code.DeadlineExceeded,
      now - late.queuedAt < 1 && budget < 1
        ? `the client's deadline (${formatMs(budget)} left when ${what} arrived) passed before the command could start; it was not run`
        : `the client's deadline of ${formatMs(budget)} passed after ${formatMs(now - late.queuedAt)} waiting ${waitedFor}, before ${what} could start; it was not run`,
    );
  }

  private send(command: Pending, channel: bigint): void {
    const id = this.nextCommandId++;
    const left = command.deadline - this.env.clock.now();
    const cancelDeadline = this.env.clock.timeout(left, () => this.deadlinePassed(id));
    this.inFlight.push({ command, id, cancelDeadline });
    if (this.inFlight.length === 1) this.armHeadTimeout();
    this.kind.mux().send(this.kind.commandMessage(channel, id, command.invocation, this.entityId));
  }

  /**
   * The client's deadline passed while the function has the command: only
   * that client's wait ends. The command completes; its outcome stands.
   */
  private deadlinePassed(id: bigint): void {
    const f = this.inFlight.find((x) => x.id === id);
    if (f === undefined) return;
    f.command.clientGone = true;
    const method = f.command.invocation.method.name;
    f.command.answerEarly(
      new CairnError(
        Code.DeadlineExceeded,
        `the deadline passed while the user function was handling ${method} on ${this.label}; the command was not cancelled: it completes, and its outcome stands (retry with the same idempotency-key to learn it)`,
      ),
    );
  }

  /** The function has `commandTimeoutMs` to answer the oldest command in flight, from now. */
  private armHeadTimeout(): void {
    this.cancelHeadTimeout();
    const head = this.inFlight[0];
    if (head === undefined) {
      this.cancelHeadTimeout = () => {};
      return;
    }
    const ms = this.env.commandTimeoutMs;
    this.cancelHeadTimeout = this.env.clock.timeout(ms, () => this.onTimeout(head.id, ms));
  }

  private onTimeout(id: bigint, ms: number): void {
    const timedOut = this.inFlight[0];
    if (timedOut === undefined || timedOut.id !== id) return;
    const method = timedOut.command.invocation.method.name;
    this.restart(
      "command_timeout",
      new CairnError(
        Code.DeadlineExceeded,
        `the user function did not answer ${this.service.desc.typeName}.${method} on entity '${this.entityId}' within ${ms} ms (runtime option --command-timeout-ms); the entity was restarted and nothing of this command was persisted`,
      ),
      timedOut.command,
    );
    this.pump();
  }

  /** ChannelListener: a message from the user function for this channel. */
  onMessage(message: Out): void {
    const decoded = this.kind.decode(message);
    if (decoded === undefined) return;
    if ("reply" in decoded) {
      this.onReply(decoded.reply);
      return;
    }
    const f = decoded.failure;
    // The command it names (or the oldest one) fails; the others run again
    // after re-activation, so a poison command cannot loop forever.
    const culprit = this.inFlight.find((x) => x.id === f.commandId) ?? this.inFlight[0];
    this.restart(
      "channel_failure",
      new CairnError(
        f.code === 0 ? Code.Internal : f.code,
        f.message || "entity failed in the user function",
      ),
      culprit?.command,
    );
    this.pump();
  }

  /** ChannelListener: the stream to the function broke. */
  onLost(error: Error): void {
    if (this.channel !== undefined) this.kind.channelLost?.(this.channel);
    this.channel = undefined;
    this.cancelHeadTimeout();
    for (const f of this.inFlight.splice(0)) {
      f.cancelDeadline();
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
    inFlight.cancelDeadline();
    this.inFlight.shift();
    this.armHeadTimeout();
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
      const code = f.code === 0 ? Code.Unknown : f.code;
      // A failure that restarts the entity is the function's trouble, not an
      // answer worth keeping for a keyed retry; a plain one is the command's outcome.
      if (f.restart)
        this.restart("function_failure", new CairnError(code, f.message), inFlight.command);
      else inFlight.command.reject(new CommandFailedError(code, f.message));
    } else {
      const problem =
        this.kind.checkReply?.(this.ref, reply) ??
        this.env.checkReply(inFlight.command.invocation, reply);
      if (problem !== undefined) {
        // The function already applied the events in memory: it must forget them.
        this.restart("invalid_reply", problem, inFlight.command);
      } else {
        this.commits
          .push({ command: inFlight.command, reply })
          .catch((err: unknown) => this.fault(err));
      }
    }
    this.lastActive = this.env.clock.now();
    this.pump();
  }

  // ---- after the commit ---------------------------------------------------

  private persistFailed(err: unknown, lost: readonly Replied<Pending, R>[]): void {
    const error = storeError(err, `the state of ${this.label}`);
    for (const r of lost) r.command.reject(error);
    this.restart("store_failure", error, undefined, false);
  }

  private release(replied: Replied<Pending, R>): void {
    const { command } = replied;
    this.env
      .release(this.releaseInvocation(command), replied.reply)
      .then(command.resolve, (err: unknown) => {
        command.reject(CairnError.from(err));
      });
  }

  /**
   * The invocation effects and forwards run for. A client that is gone (its
   * deadline passed, or it cancelled) does not cancel the command's outcome:
   * they run within the runtime's own timeout instead of a passed deadline.
   */
  private releaseInvocation(command: Pending): Invocation {
    const inv = command.invocation;
    if (!command.clientGone && inv.signal?.aborted !== true) return inv;
    const { signal: _gone, ...rest } = inv;
    return { ...rest, deadline: this.env.clock.now() + this.env.commandTimeoutMs };
  }

  // ---- lifecycle ----------------------------------------------------------

  private async activate(): Promise<void> {
    const refused = this.env.activations.acquire(this.label);
    if (refused !== undefined) {
      this.env.metrics.limitRejected("max-activations");
      this.failQueued(refused);
      return;
    }
    this.activating = true;
    try {
      const first = this.mailbox[0];
      const now = this.env.clock.now();
      const waitMs = (first?.deadline ?? now) - now;
      if (!(await this.env.connection.whenConnected(waitMs))) {
        this.failQueued(
          new CairnError(
            Code.Unavailable,
            `the user function is not available (${this.env.connection.status}); retry later`,
          ),
        );
        return;
      }
      const { loaded, position } = await this.kind.load(this.ref, this.service);
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
      const name = this.service.desc.typeName;
      for (const m of this.kind.initMessages(channel, name, this.entityId, loaded)) mux.send(m);
      this.position = position;
      this.channel = channel;
      this.activatedAt = this.env.clock.now();
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
      this.env.activations.release();
    }
    this.pump();
  }

  /**
   * A bug in the engine itself (store and function failures are handled
   * where they happen): everything it holds fails, with an outcome the
   * client cannot know, and the entity starts over from the store.
   */
  private fault(err: unknown): void {
    const error = new CairnError(
      Code.Internal,
      `the runtime failed while handling ${this.label}; the outcome of the commands in progress is unknown`,
      { cause: err },
    );
    for (const r of this.commits.drain()) r.command.reject(error);
    this.restart("engine_fault", error, undefined, false);
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
  private restart(
    reason: RestartReason,
    error: CairnError,
    command?: Pending,
    requeue = true,
  ): void {
    this.cancelHeadTimeout();
    const pending = this.inFlight.splice(0);
    for (const f of pending) f.cancelDeadline();
    const others = pending.map((f) => f.command).filter((c) => c !== command);
    command?.reject(error);
    if (requeue) this.mailbox.unshift(...others);
    else for (const c of others) c.reject(error);
    this.closeChannel();
    const level = reason === "engine_fault" || reason === "store_failure" ? "error" : "warn";
    this.env.logger[level](
      {
        entity: this.label,
        reason,
        ...(command === undefined ? {} : { method: command.invocation.method.name }),
        code: error.code,
        err: error,
        [requeue ? "requeued" : "failed"]: others.length,
      },
      `entity restarted (${reason.replace("_", " ")}): ${error.message}`,
    );
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

/** A duration for a message: whole milliseconds, or a fraction when below one (a 1 ns grpc-timeout). */
function formatMs(ms: number): string {
  return `${ms >= 1 ? Math.round(ms) : Number(ms.toPrecision(2))} ms`;
}
