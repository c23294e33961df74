/**
 * Likes of a post: a PNCounter that any node may change, kept in the store
 * (durable) so that a restart keeps it. The write consistency is the
 * caller's choice, to show what each costs.
 */
import { PNCounter } from "@cairn/crdt";
import { CommandError, Code, replicatedEntity } from "@cairn/sdk";
import type { WriteConsistency } from "@cairn/sdk";
import { Likes } from "./gen/chat/v1/chat_pb.js";

function consistency(raw: string): WriteConsistency {
  if (raw === "") return "local";
  if (raw === "local" || raw === "majority" || raw === "all") return raw;
  throw new CommandError(
    Code.InvalidArgument,
    `consistency '${raw}' is not one of "local", "majority", "all"`,
  );
}

/** The Likes component. */
export const likes = replicatedEntity(Likes, {
  entityType: "likes",
  crdt: PNCounter,
  durable: true,
  commands: {
    like(cmd, counter, ctx) {
      counter.increment(cmd.by === 0 ? 1 : cmd.by);
      ctx.writeConsistency(consistency(cmd.consistency), { timeoutMs: 2_000 });
      return { postId: ctx.entityId, likes: BigInt(counter.value) };
    },
    unlike(cmd, counter, ctx) {
      counter.decrement(cmd.by === 0 ? 1 : cmd.by);
      ctx.writeConsistency(consistency(cmd.consistency));
      return { postId: ctx.entityId, likes: BigInt(counter.value) };
    },
    get: (_cmd, counter, ctx) => ({ postId: ctx.entityId, likes: BigInt(counter.value) }),
    reset(_cmd, _counter, ctx) {
      ctx.deleteEntity();
      return { postId: ctx.entityId, likes: 0n };
    },
  },
});
