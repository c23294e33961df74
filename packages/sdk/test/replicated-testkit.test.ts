import { describe, expect, it } from "vitest";
import { Flag, GCounter, GSet, LWWRegister, ORMap, ORSet, PNCounter, Vote } from "@cairn/crdt";
import type { Crdt } from "@cairn/crdt";
import { Code, CommandError, replicatedEntity } from "../src/index.js";
import type { CrdtClass, ReplicatedEntity } from "../src/index.js";
import { createReplicatedEntityTestKit } from "../src/testkit/index.js";
import { Likes } from "../../../examples/chat/src/gen/chat/v1/chat_pb.js";
import { likes } from "../../../examples/chat/src/likes.js";
import { chatRoom } from "../../../examples/chat/src/room.js";

describe("replicated entity testkit", () => {
  it("sends only the command's delta, with its write consistency", async () => {
    const kit = createReplicatedEntityTestKit(likes, { entityId: "p1" });
    const first = await kit.call("like", { postId: "p1", by: 2, consistency: "majority" });
    expect(first.reply?.likes).toBe(2n);
    expect(first.writeConsistency).toBe("majority");
    expect(first.writeTimeoutMs).toBe(2_000);
    const second = await kit.call("like", { postId: "p1" });
    expect(second.writeConsistency).toBe("local");
    // The delta of the second command holds the replica's new total, not the history.
    const fresh = new PNCounter("elsewhere");
    fresh.applyDelta(second.delta!);
    expect(fresh.value).toBe(3);
    const read = await kit.call("get", { postId: "p1" });
    expect(read.delta).toBeUndefined();
    expect(read.reply?.likes).toBe(3n);
  });

  it("rolls back the changes of a failed command", async () => {
    const kit = createReplicatedEntityTestKit(likes, { entityId: "p1" });
    await kit.call("like", { postId: "p1", by: 5 });
    const bad = await kit.call("like", { postId: "p1", by: 1, consistency: "quorum" });
    expect(bad.error?.code).toBe(Code.InvalidArgument);
    expect(bad.error?.message).toContain("consistency 'quorum'");
    expect(bad.delta).toBeUndefined();
    expect(kit.crdt.value).toBe(5);
    kit.restart();
    expect(kit.crdt.value).toBe(5);
  });

  it("applies a peer's delta and deletes the entity", async () => {
    const kit = createReplicatedEntityTestKit(likes, { entityId: "p1" });
    await kit.call("like", { postId: "p1" });
    const peer = kit.peer("node-2");
    peer.increment(10);
    kit.deliverDelta(peer.takeDelta()!);
    expect((await kit.call("get", { postId: "p1" })).reply?.likes).toBe(11n);
    const reset = await kit.call("reset", { postId: "p1" });
    expect(reset.deleted).toBe(true);
    expect(kit.crdt.value).toBe(0);
    expect((await kit.call("like", { postId: "p1" })).reply?.likes).toBe(1n);
  });

  it("streams the room to a watcher and withdraws its presence when it goes away", async () => {
    const kit = createReplicatedEntityTestKit(chatRoom, { entityId: "r1" });
    const ada = await kit.call("watch", { roomId: "r1", user: "ada" });
    expect(ada.reply?.online).toEqual(["ada"]);
    const bob = await kit.call("watch", { roomId: "r1", user: "bob" });
    expect(bob.stream?.messages.at(-1)?.online).toEqual(["ada", "bob"]);
    // Ada's stream saw Bob arrive.
    expect(ada.stream?.messages.at(-1)?.online).toEqual(["ada", "bob"]);
    await kit.call("post", { roomId: "r1", user: "bob", text: "hi" });
    expect(ada.stream?.messages.at(-1)?.messages.map((m) => m.text)).toEqual(["hi"]);
    bob.stream!.cancel();
    expect(bob.stream?.ended).toBe(true);
    expect(ada.stream?.messages.at(-1)?.online).toEqual(["ada"]);
    expect((await kit.call("get", { roomId: "r1" })).reply?.online).toEqual(["ada"]);
    // A peer's post reaches the watcher too.
    const peer = kit.peer("node-2");
    peer.update("messages", GSet, (m) => m.add({ id: "x", user: "eve", text: "yo", at: 1 }));
    kit.deliverDelta(peer.takeDelta()!);
    expect(ada.stream?.messages.at(-1)?.messages.map((m) => m.user)).toEqual(["eve", "bob"]);
  });

  it("serves every CRDT type of @cairn/crdt", async () => {
    // One counter-like contract, one component per type: each command changes
    // the CRDT through its own API and answers with a size read from its value.
    await check(
      probe(
        GCounter,
        (c) => c.increment(),
        (c) => c.value,
      ),
      2,
    );
    await check(
      probe(
        PNCounter,
        (c) => c.decrement(),
        (c) => -c.value,
      ),
      2,
    );
    await check(
      probe(
        GSet<string>,
        (c, n) => c.add(`e${n}`),
        (c) => c.value.length,
      ),
      2,
    );
    await check(
      probe(
        ORSet<string>,
        (c, n) => c.add(`e${n}`),
        (c) => c.value.length,
      ),
      2,
    );
    await check(
      probe(
        LWWRegister<number>,
        (c, n) => void c.set(n),
        (c) => c.value ?? 0,
      ),
      2,
    );
    await check(
      probe(
        Flag,
        (c) => c.enable(),
        (c) => (c.value ? 1 : 0),
      ),
      1,
    );
    await check(
      probe(
        Vote,
        (c) => c.vote(true),
        (c) => c.value.votesFor,
      ),
      1,
    );
    await check(
      probe(
        ORMap<string>,
        (c, n) => c.update(`k${n}`, PNCounter, (v) => v.increment()),
        (c) => c.size,
      ),
      2,
    );
  });

  it("refuses a definition whose crdt is not a CRDT class", () => {
    expect(() =>
      replicatedEntity(Likes, {
        entityType: "bad",
        crdt: Object as unknown as typeof PNCounter,
        commands: counterish<PNCounter>(
          () => undefined,
          () => 0,
        ),
      }),
    ).toThrow(/'crdt' must be a CRDT class/);
  });
});

/** Handlers of the Likes contract over any CRDT: `like` changes, everything answers a number. */
function counterish<C>(change: (c: C, n: number) => void, size: (c: C) => number) {
  const answer = (c: C, postId: string) => ({ postId, likes: BigInt(size(c)) });
  return {
    like(cmd: { postId: string; by: number }, c: C) {
      if (cmd.by < 0) throw new CommandError(Code.InvalidArgument, "negative");
      change(c, cmd.by);
      return answer(c, cmd.postId);
    },
    unlike: (cmd: { postId: string }, c: C) => answer(c, cmd.postId),
    get: (cmd: { postId: string }, c: C) => answer(c, cmd.postId),
    reset: (cmd: { postId: string }, c: C) => answer(c, cmd.postId),
  };
}

/** A replicated entity of CRDT type `crdt` on the Likes contract. */
function probe<C extends Crdt<unknown, unknown>>(
  crdt: CrdtClass<C>,
  change: (c: C, n: number) => void,
  size: (c: C) => number,
) {
  return replicatedEntity(Likes, {
    entityType: crdt.typeName,
    crdt,
    clock: (current) => (current ?? 0) + 1,
    commands: counterish(change, size),
  });
}

/** Two likes, then a re-activation: the answer survives as `expected`. */
async function check<C extends Crdt<unknown, unknown>>(
  kind: ReplicatedEntity<typeof Likes, C>,
  expected: number,
): Promise<void> {
  const type = kind.definition.crdtType;
  const kit = createReplicatedEntityTestKit(kind, { entityId: "x" });
  await kit.call("like", { postId: "x", by: 1 });
  const r = await kit.call("like", { postId: "x", by: 2 });
  expect(r.error, type).toBeUndefined();
  expect(Number(r.reply?.likes), type).toBe(expected);
  kit.restart();
  expect(Number((await kit.call("get", { postId: "x" })).reply?.likes), type).toBe(expected);
}
