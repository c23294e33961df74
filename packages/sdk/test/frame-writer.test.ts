import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { FrameWriter } from "../src/server/frame-writer.js";
import { until } from "./fixtures/wire.js";

/** A sink that records frames and reports a full buffer when told to. */
class FakeSink extends EventEmitter {
  readonly frames: number[][] = [];
  full = false;
  write(frame: number[]): boolean {
    this.frames.push(frame);
    return !this.full;
  }
}

describe("FrameWriter", () => {
  it("sends the messages of one tick as one frame", async () => {
    const sink = new FakeSink();
    const writer = new FrameWriter<number, number[]>(sink, (m) => m);
    writer.push(1);
    writer.push(2);
    writer.push(3);
    await writer.idle();
    expect(sink.frames).toEqual([[1, 2, 3]]);
  });

  it("holds messages while the stream is full and sends them together on drain", async () => {
    const sink = new FakeSink();
    const writer = new FrameWriter<number, number[]>(sink, (m) => m);
    sink.full = true;
    writer.push(1);
    await until(
      () => sink.frames.length === 1,
      1_000,
      () => "first frame not written",
    );
    writer.push(2);
    writer.push(3);
    await new Promise((r) => setImmediate(r));
    expect(sink.frames).toEqual([[1]]);
    sink.full = false;
    const idle = writer.idle();
    sink.emit("drain");
    await idle;
    expect(sink.frames).toEqual([[1], [2, 3]]);
  });

  it("drops pending messages once closed", async () => {
    const sink = new FakeSink();
    const writer = new FrameWriter<number, number[]>(sink, (m) => m);
    writer.push(1);
    writer.close();
    await writer.idle();
    await new Promise((r) => setImmediate(r));
    expect(sink.frames).toEqual([]);
  });
});
