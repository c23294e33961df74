/**
 * One active event-sourced entity: its channel to the user function, its
 * bounded mailbox, and its commit pipeline.
 *
 * Commands go to the function in arrival order, pipelined: up to
 * `PIPELINE_WINDOW` are sent without waiting for the replies (the SDK handles
 * a channel's commands one at a time, in order, so semantics are those of one
 * command at a time; a hot entity just stops paying a round trip per
 * command). A reply's events are persisted before the reply is released:
 * replies queue in `committing` and all events that gathered while a commit
 * was in flight go to the store as ONE append (all-or-none for the group). That keeps a hot
 * entity's throughput bound by commands per fsync, not fsyncs per second,
 * while preserving the rules: nothing is released before it is durable, and
 * a reply that read state (even a pure query) waits for the commits before it.
 * If a commit fails, every reply computed on top of it fails too and the
 * entity restarts from the store.
 */
import { create } from "@bufbuild/protobuf";
import { CairnError, Code, EventSourcedInSchema } from "@cairn/protocol";
import type { EventSourcedOut, EventSourcedReply } from "@cairn/protocol";
import type { Invocation, InvocationResult, ServiceEntry } from "../core/types.js";
import { SequenceConflictError } from "../store/types.js";
import type { AppendRequest, StoredPayload } from "../store/types.js";
import type { ChannelListener } from "./event-sourced-mux.js";
import type { EntityEnv } from "./entity-env.js";
import { fromAny, messageAny, toAny, toWireMetadata } from "./payloads.js";

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

interface Replied {
  readonly command: Pending;
  readonly reply: EventSourcedReply;
}

export class EventSourcedEntity implements ChannelListener {
  private channel: bigint | undefined;
  private activating = false;
  private readonly mailbox: Pending[] = [];
  /** Sent to the function, oldest first; replies come in this order. */
  private readonly inFlight: InFlight[] = [];
  private nextCommandId = 1n;
  private readonly committing: Replied[] = [];
  private commitRunning = false;
  /** Sequence of the last durable event. */
  private sequence = 0;
  /** Epoch ms of the last activity, for passivation. */
  lastActive = Date.now();
  private closed = false;

  constructor(
    readonly service: ServiceEntry,
    readonly entityId: string,
    private readonly env: EntityEnv,
  ) {}

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
        void this.activate();
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
    this.env.mux().send(
      create(EventSourcedInSchema, {
        channelId: channel,
        body: {
          case: "command",
          value: {
            id,
            name: inv.method.name,
            payload: messageAny(inv.method.input.typeName, inv.input),
            metadata: toWireMetadata(inv.metadata),
          },
        },
      }),
    );
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
  onMessage(message: EventSourcedOut): void {
    const body = message.body;
    if (body.case === "reply") this.onReply(body.value);
    else if (body.case === "failure") {
      const f = body.value;
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

  private onReply(reply: EventSourcedReply): void {
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
      if (reply.events.length > 0) {
        this.env.reportError(
          `failure reply carried ${reply.events.length} events; they were dropped`,
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
        void this.runCommits();
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
        const batch = this.committing.splice(0);
        const events: StoredPayload[] = [];
        for (const r of batch) for (const e of r.reply.events) events.push(fromAny(e));
        if (events.length > 0 && !(await this.append(batch, events))) return;
        for (const r of batch) this.release(r);
      }
    } finally {
      this.commitRunning = false;
      this.lastActive = Date.now();
      this.pump();
    }
  }

  private async append(batch: Replied[], events: StoredPayload[]): Promise<boolean> {
    const last = batch[batch.length - 1]!.reply;
    // A snapshot is only valid at the sequence of its own command's last event.
    const snapshot =
      last.snapshot !== undefined && last.events.length > 0 ? fromAny(last.snapshot) : undefined;
    const request: AppendRequest = {
      entityType: this.service.entityType ?? this.service.desc.typeName,
      entityId: this.entityId,
      expectedSequence: this.sequence,
      events,
      ...(snapshot === undefined ? {} : { snapshot }),
    };
    try {
      const result = await this.env.store.append(request);
      this.sequence = result.sequence;
      return true;
    } catch (err) {
      const conflict = err instanceof SequenceConflictError;
      const error = conflict
        ? new CairnError(
            Code.Aborted,
            `another writer changed ${this.label} concurrently; the command was not applied, retry it`,
            { cause: err },
          )
        : new CairnError(
            Code.Unavailable,
            `could not persist events of ${this.label}: ${(err as Error).message}`,
            { cause: err },
          );
      this.env.logger.error({ entity: this.label, err }, "append failed; restarting the entity");
      // Everything computed on top of the lost events is invalid too.
      for (const r of [...batch, ...this.committing.splice(0)]) r.command.reject(error);
      this.restart("store", error, undefined, false);
      return false;
    }
  }

  private release(replied: Replied): void {
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
      const ref = {
        entityType: this.service.entityType ?? this.service.desc.typeName,
        entityId: this.entityId,
      };
      const snapshot = await this.env.store.loadSnapshot(ref);
      const events = await this.env.store.loadEvents(ref, snapshot?.sequence ?? 0);
      const mux = this.env.mux();
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
      mux.send(
        create(EventSourcedInSchema, {
          channelId: channel,
          body: {
            case: "init",
            value: {
              serviceName: this.service.desc.typeName,
              entityId: this.entityId,
              ...(snapshot === undefined
                ? {}
                : {
                    snapshot: { sequence: BigInt(snapshot.sequence), state: toAny(snapshot.state) },
                  }),
            },
          },
        }),
      );
      for (const e of events) {
        mux.send(
          create(EventSourcedInSchema, {
            channelId: channel,
            body: {
              case: "event",
              value: { sequence: BigInt(e.sequence), payload: toAny(e.payload) },
            },
          }),
        );
      }
      this.sequence =
        events.length > 0 ? events[events.length - 1]!.sequence : (snapshot?.sequence ?? 0);
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
    const mux = this.env.mux();
    mux.send(
      create(EventSourcedInSchema, { channelId: channel, body: { case: "close", value: {} } }),
    );
    mux.closeChannel(channel);
    this.env.deactivated(this);
  }
}
