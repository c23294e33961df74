/**
 * Worker-thread entry of the SQLite store's write side: runs a SqliteWriter
 * so that the fsync of each commit blocks this thread, not the runtime's
 * event loop. Messages: `{ id, writes }` in, `{ id, outcomes }` or
 * `{ id, error }` out; `{ close: true }` closes the file and exits.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { Write } from "./group-commit.js";
import { SqliteWriter } from "./sqlite-writer.js";

/** Data the adapter passes to the worker. */
export interface SqliteWorkerData {
  readonly path: string;
  readonly maxTimersPerOwner: number;
  readonly maxIdempotencyKeysPerEntity: number;
}

/** A request to the worker. */
export type SqliteWorkerRequest =
  { readonly id: number; readonly writes: readonly Write[] } | { readonly close: true };

const port = parentPort;
if (port === null) throw new Error("sqlite-worker.js must run as a worker thread");

let writer: SqliteWriter | undefined;
try {
  const data = workerData as SqliteWorkerData;
  writer = new SqliteWriter(data.path, data.maxTimersPerOwner, data.maxIdempotencyKeysPerEntity);
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ failed: (err as Error).message });
}

port.on("message", (msg: SqliteWorkerRequest) => {
  if ("close" in msg) {
    writer?.close();
    port.close();
    return;
  }
  try {
    port.postMessage({ id: msg.id, outcomes: writer!.commit(msg.writes) });
  } catch (err) {
    port.postMessage({ id: msg.id, error: (err as Error).message });
  }
});
