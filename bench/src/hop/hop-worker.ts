/**
 * The handler side of the worker-thread candidates. Frames arrive on the
 * worker's parent port either as encoded bytes (answered as bytes, buffers
 * transferred rather than copied) or as arrays of message objects (answered
 * as objects: structured clone instead of protobuf).
 */
import { parentPort } from "node:worker_threads";
import type { EventSourcedIn, EventSourcedOut } from "@cairn/protocol";
import { TurnBatcher, handle } from "./frames.js";
import { frameSide } from "./side.js";

const port = parentPort!;
const onFrame = frameSide((frame) => port.postMessage(frame, [frame.buffer as ArrayBuffer]));
const objects = new TurnBatcher<EventSourcedOut>((replies) => port.postMessage(replies));
port.on("message", (m: Uint8Array | EventSourcedIn[]) => {
  if (m instanceof Uint8Array) onFrame(m);
  else for (const msg of m) objects.push(handle(msg));
});
