/**
 * The entity engine under random interleavings of commands, replies,
 * failures, restarts, timeouts, lost streams, slow commits and a second
 * writer: whatever happens, every command settles, a command that
 * succeeded is in the journal exactly once, one that failed is not in it at
 * all, and the journal keeps the order in which commands arrived.
 */
import { Code } from "@cairn/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PIPELINE_WINDOW } from "../../src/host/entity.js";
import { SequenceConflictError } from "../../src/store/types.js";
import { CART_TYPE, entityHarness, journal, settle } from "./harness.js";
import type { Tracked } from "./harness.js";

type Op =
  | "command"
  | "reply"
  | "fail"
  | "restart"
  | "channelFailure"
  | "timeout"
  | "lose"
  | "hold"
  | "release"
  | "otherWriter"
  | "burst"
  | "settle";

const OPS: Op[] = [
  "command",
  "command",
  "command",
  "reply",
  "reply",
  "reply",
  "fail",
  "restart",
  "channelFailure",
  "timeout",
  "lose",
  "hold",
  "release",
  "otherWriter",
  "burst",
  "settle",
];

describe("the entity engine under random interleavings", () => {
  it("settles every command; the journal holds exactly the succeeded ones, in order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...OPS), { maxLength: 60 }), async (ops) => {
        const h = entityHarness({ commandTimeoutMs: 1_000 });
        const commands = new Map<string, Tracked>();
        const order: string[] = [];
        const ref = { entityType: CART_TYPE, entityId: "c1" };
        let n = 0;
        let others = 0;
        const add = () => {
          const p = `p${n++}`;
          const t = h.addItem(p, 60_000);
          commands.set(p, t);
          t.promise.then(
            () => order.push(p),
            () => {},
          );
        };
        for (const op of ops) {
          const head = h.fn.unanswered[0];
          switch (op) {
            case "command":
              add();
              break;
            case "reply":
              if (head) h.fn.reply(head, { events: [JSON.stringify(head.product)] });
              break;
            case "fail":
              if (head)
                h.fn.reply(head, { failure: { code: Code.FailedPrecondition, message: "no" } });
              break;
            case "restart":
              if (head)
                h.fn.reply(head, { failure: { code: Code.Internal, message: "x" }, restart: true });
              break;
            case "channelFailure":
              if (head) h.fn.failChannel(head, Code.Internal, "channel broke");
              break;
            case "timeout":
              h.clock.advance(1_000);
              break;
            case "lose":
              h.fn.lose();
              h.fn.up = true;
              break;
            case "hold":
              h.held.hold();
              break;
            case "release":
              h.held.release();
              break;
            case "otherWriter": {
              // Races with the entity's own writes: whichever lands second conflicts.
              const last = await h.held.real.lastSequence(ref);
              await h.held.real
                .append({ ...ref, expectedSequence: last, events: [json(`other${others++}`)] })
                .catch((err: unknown) => {
                  if (!(err instanceof SequenceConflictError)) throw err;
                });
              break;
            }
            case "burst":
              // More than the pipeline window: some commands wait in the mailbox.
              for (let i = 0; i < PIPELINE_WINDOW + 3; i++) add();
              break;
            case "settle":
              await settle();
              break;
          }
        }
        // Let everything finish: the store lands, the function answers all.
        h.held.release();
        for (
          let round = 0;
          round < 200 && [...commands.values()].some((c) => !c.settled);
          round++
        ) {
          await settle();
          for (const c of h.fn.unanswered) h.fn.reply(c, { events: [JSON.stringify(c.product)] });
        }
        await settle();
        const unsettled = [...commands].filter(([, c]) => !c.settled).map(([p]) => p);
        expect(unsettled).toEqual([]);
        const ours = (await journal(h.held.store))
          .map((e) => JSON.parse(e) as string)
          .filter((e) => e.startsWith("p"));
        const succeeded = [...commands].filter(([, c]) => c.error === undefined).map(([p]) => p);
        expect(new Set(ours).size).toBe(ours.length);
        expect([...ours].sort()).toEqual([...succeeded].sort());
        expect(ours).toEqual(order);
        // Commands run in arrival order, restarts included.
        expect(ours).toEqual([...ours].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))));
      }),
      { numRuns: 150 },
    );
  });
});

function json(text: string) {
  return { typeUrl: "json.cairn.dev/Event", value: new TextEncoder().encode(JSON.stringify(text)) };
}
