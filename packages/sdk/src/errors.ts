import { CairnError } from "@cairn/protocol";
import type { Code } from "@cairn/protocol";
import type { CairnErrorOptions } from "@cairn/protocol";

/**
 * The error a command handler throws to fail a command with a gRPC code and a
 * message meant for the client. A failed command changes nothing: its events
 * are discarded and the entity keeps the state it had before the command.
 * Anything else thrown becomes INTERNAL with a correlation id (the details go
 * to the log, never to the client).
 *
 * @example
 * ```ts
 * throw new CommandError(Code.FailedPrecondition, `cart '${ctx.entityId}' is checked out`);
 * ```
 */
export class CommandError extends CairnError {
  constructor(code: Code, message: string, options: CairnErrorOptions = {}) {
    super(code, message, options);
    // CairnError declares `name` as the literal "CairnError", so a subclass
    // cannot override it in a type-safe way; stack traces and logs still
    // deserve the precise name.
    Object.defineProperty(this, "name", { value: "CommandError", enumerable: false });
  }
}
