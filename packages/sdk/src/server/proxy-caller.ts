import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethod, Message } from "@bufbuild/protobuf";
import { CairnError, Code, COMMITTED_KEY } from "@cairn/protocol";
import type { Caller } from "../context/caller.js";
import type { MetadataValue } from "../payload/metadata.js";

/**
 * Makes `ctx.call()` calls as plain gRPC unary calls to the runtime's proxy
 * address, which routes each to the component's owner wherever it lives. The
 * address is learned at discovery (`RuntimeInfo.proxy_address`) and may change
 * when a runtime reconnects; one HTTP/2 connection is kept per address.
 */
export class ProxyCaller implements Caller {
  private address: string | undefined;
  private client: grpc.Client | undefined;

  /** Records the address the runtime announced; an empty one means none. */
  setAddress(address: string): void {
    const next = address === "" ? undefined : address;
    if (next === this.address) return;
    this.client?.close();
    this.client = undefined;
    this.address = next;
  }

  call(
    method: DescMethod,
    request: Message,
    metadata: ReadonlyMap<string, MetadataValue>,
    timeoutMs?: number,
  ): Promise<Message> {
    const path = `/${method.parent.typeName}/${method.name}`;
    if (this.address === undefined) {
      return Promise.reject(
        new CairnError(
          Code.FailedPrecondition,
          `cannot call ${path}: the runtime announced no proxy address at discovery (RuntimeInfo.proxy_address); upgrade the runtime or make sure it ran Discover`,
        ),
      );
    }
    this.client ??= new grpc.Client(this.address, grpc.credentials.createInsecure());
    const client = this.client;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        path,
        (value: Message) => Buffer.from(toBinary(method.input, value)),
        (bytes: Buffer) => fromBinary(method.output, bytes),
        request,
        grpcMetadata(metadata),
        timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs },
        (err, reply) => {
          if (err !== null) reject(callError(path, err));
          else if (reply === undefined)
            reject(new CairnError(Code.Internal, `call to ${path} answered no message`));
          else resolve(reply);
        },
      );
    });
  }

  /** Closes the connection; calls in flight fail with CANCELLED. */
  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}

function grpcMetadata(map: ReadonlyMap<string, MetadataValue>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [key, value] of map) {
    // gRPC carries bytes only under keys ending in -bin; text goes as is.
    if (typeof value === "string") md.set(key, value);
    else md.set(key.endsWith("-bin") ? key : `${key}-bin`, Buffer.from(value));
  }
  return md;
}

/** A failed call as the handler sees it: the gRPC code and message of the callee. */
function callError(path: string, err: grpc.ServiceError): CairnError {
  // grpc-js and Cairn share gRPC's numbering; anything outside it is UNKNOWN.
  const raw: number = err.code;
  const code: Code = raw >= 1 && raw <= 16 ? raw : Code.Unknown;
  const message = err.details === "" ? `call to ${path} failed` : err.details;
  // The runtime's trailer for a command that committed before it failed.
  const committed = err.metadata?.get(COMMITTED_KEY)[0] === "true";
  return new CairnError(code, message, { cause: err, committed });
}
