/**
 * The handler side of the worker-thread candidate: frames arrive on the
 * worker's parent port as bytes and leave the same way, their buffers
 * transferred rather than copied.
 */
import { parentPort } from "node:worker_threads";
import { frameSide } from "./side.js";

const port = parentPort!;
const onFrame = frameSide((frame) => port.postMessage(frame, [frame.buffer as ArrayBuffer]));
port.on("message", (frame: Uint8Array) => onFrame(frame));
