/**
 * The open streamed commands (subscriptions) of replicated entities on this
 * node: which call each streamed message goes to, when to tell the function
 * that a subscriber went away, and ending them when their channel goes.
 *
 * A client may go away before the reply that opens its stream has arrived;
 * the function would then register a subscription nobody reads and never
 * run its cancellation handler (a presence never withdrawn). So the
 * cancellation is remembered and sent as soon as that reply arrives.
 */
import { CairnError, Code } from "@cairn/protocol";
import type { ReplicatedEntityReply, ReplicatedStreamedMessage } from "@cairn/protocol";
import type { StreamSink } from "../../core/stream-sink.js";
import type { EntityRef } from "../../store/types.js";

interface Open {
  readonly ref: EntityRef;
  readonly channel: bigint;
  readonly commandId: bigint;
  readonly sink: StreamSink;
  readonly label: string;
  /** The reply that opens the stream has arrived. */
  replied: boolean;
  /** The client went away. */
  cancelled: boolean;
  readonly stopListening: () => void;
}

const key = (channel: bigint, commandId: bigint) => `${channel}/${commandId}`;
const refKey = (ref: EntityRef) => `${ref.entityType}\u0000${ref.entityId}`;

/** See the module doc. */
export class Subscriptions {
  private readonly open = new Map<string, Open>();
  private readonly perEntity = new Map<string, number>();

  /** @param cancel sends StreamCancelled for `commandId` on `channel`. */
  constructor(private readonly cancel: (channel: bigint, commandId: bigint) => void) {}

  /** A streamed command was sent: its later messages go to `sink`. */
  register(
    ref: EntityRef,
    channel: bigint,
    commandId: bigint,
    sink: StreamSink,
    signal: AbortSignal | undefined,
    label: string,
  ): void {
    const onAbort = () => this.clientGone(channel, commandId);
    signal?.addEventListener("abort", onAbort, { once: true });
    const entry: Open = {
      ref,
      channel,
      commandId,
      sink,
      label,
      replied: false,
      cancelled: signal?.aborted === true,
      stopListening: () => signal?.removeEventListener("abort", onAbort),
    };
    this.open.set(key(channel, commandId), entry);
    this.perEntity.set(refKey(ref), (this.perEntity.get(refKey(ref)) ?? 0) + 1);
  }

  /** True while `ref` has open subscriptions. */
  holds(ref: EntityRef): boolean {
    return (this.perEntity.get(refKey(ref)) ?? 0) > 0;
  }

  /** The reply of a command on `channel` arrived. */
  replied(channel: bigint, reply: ReplicatedEntityReply): void {
    const entry = this.open.get(key(channel, reply.commandId));
    if (entry === undefined) return;
    const failed = reply.clientAction?.action.case === "failure";
    if (!reply.streamed || failed) {
      // No stream (or a failed command, which the reply itself reports).
      this.remove(entry);
      if (!failed) entry.sink.end();
      return;
    }
    entry.replied = true;
    if (entry.cancelled) this.cancel(channel, reply.commandId);
  }

  /** A further message of a streamed command. */
  streamed(channel: bigint, message: ReplicatedStreamedMessage): void {
    const entry = this.open.get(key(channel, message.commandId));
    if (entry === undefined) return;
    const action = message.clientAction?.action;
    if (action?.case === "reply") entry.sink.push(action.value.payload?.value ?? new Uint8Array());
    if (action?.case === "failure") {
      this.remove(entry);
      entry.sink.end(
        new CairnError(
          action.value.code === 0 ? Code.Unknown : action.value.code,
          action.value.message,
        ),
      );
      return;
    }
    if (message.endStream) {
      this.remove(entry);
      entry.sink.end();
    }
  }

  /** The channel closed or broke: its streams end; their clients may subscribe again. */
  channelGone(channel: bigint, why: string): void {
    for (const entry of [...this.open.values()]) {
      if (entry.channel !== channel) continue;
      this.remove(entry);
      entry.sink.end(
        new CairnError(
          Code.Unavailable,
          `the subscription to ${entry.label} ended: ${why}; subscribe again`,
        ),
      );
    }
  }

  private clientGone(channel: bigint, commandId: bigint): void {
    const entry = this.open.get(key(channel, commandId));
    if (entry === undefined || entry.cancelled) return;
    entry.cancelled = true;
    entry.sink.end();
    if (entry.replied) this.cancel(channel, commandId);
  }

  private remove(entry: Open): void {
    if (!this.open.delete(key(entry.channel, entry.commandId))) return;
    entry.stopListening();
    const k = refKey(entry.ref);
    const n = (this.perEntity.get(k) ?? 1) - 1;
    if (n <= 0) this.perEntity.delete(k);
    else this.perEntity.set(k, n);
  }
}
