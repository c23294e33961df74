// Compile-time guarantees of value entities and actions. The @ts-expect-error
// lines are checked by `tsc -p packages/sdk/tsconfig.test.json` (part of
// `npm test`); at run time vitest only checks that invalid definitions are
// refused.
import { describe, expect, it } from "vitest";
import { action, valueEntity } from "../src/index.js";
import { SessionFanout, UserSession } from "./fixtures/session.js";

type State = { userId: string } | null;
const base = { entityType: "session", initialState: (): State => null };
const commands = {
  login: () => ({ loggedIn: true }),
  touch: () => ({}),
  get: () => ({}),
  logout: () => ({}),
  expire: () => ({}),
};

/** Valid handlers of the client- and bidirectional-streaming methods, for the checks below. */
const streams = {
  async touchStream(requests: AsyncIterable<{ sessionId: string }>) {
    for await (const _ of requests) break;
    return {};
  },
  async *touchEach(requests: AsyncIterable<{ sessionId: string }>) {
    for await (const req of requests) yield { sessionId: req.sessionId };
  },
};

// Never called: only its compilation matters.
export function compileTimeChecks(): void {
  valueEntity(UserSession, { ...base, commands });
  valueEntity(UserSession, {
    ...base,
    commands: {
      ...commands,
      login(_cmd, _state, ctx) {
        // @ts-expect-error the state must be of the entity's State type
        ctx.updateState({ user: 1 });
        // @ts-expect-error a timer's request must be the method's input
        ctx.timers.schedule("t", UserSession.method.expire, { userId: "u" }, { delayMs: 1 });
        // @ts-expect-error a timer needs a time
        ctx.timers.schedule("t", UserSession.method.expire, { sessionId: "s" }, {});
        return { loggedIn: true };
      },
    },
  });
  valueEntity(UserSession, {
    ...base,
    // @ts-expect-error a handler for every method is required (expire is missing)
    commands: { login: commands.login, touch: commands.touch, get: commands.get },
  });

  action(SessionFanout, {
    handlers: {
      touchAll: async (req, ctx) => {
        const s = await ctx.call(UserSession.method.get, { sessionId: req.sessionIds[0] ?? "" });
        // @ts-expect-error ctx.call resolves with the method's output (Session has no 'items')
        void s.items;
        return { touched: [s] };
      },
      *watchSessions() {
        yield { sessionId: "s" };
      },
      ...streams,
    },
  });
  action(SessionFanout, {
    handlers: {
      touchAll: () => ({}),
      // @ts-expect-error a unary handler does not fit a server-streaming method
      watchSessions: () => ({ sessionId: "s" }),
      ...streams,
    },
  });
  action(SessionFanout, {
    handlers: {
      // @ts-expect-error a generator does not fit a unary method
      *touchAll() {
        yield {};
      },
      // @ts-expect-error streamed replies must be the method's output
      *watchSessions() {
        yield { missing: ["x"] };
      },
      ...streams,
    },
  });
  action(SessionFanout, {
    handlers: {
      touchAll: () => ({}),
      watchSessions: () => [],
      // @ts-expect-error a client-streaming handler answers with the method's output
      touchStream: () => Promise.resolve({ missing: [1] }),
      // @ts-expect-error a bidirectional handler streams its replies (a generator), not one reply
      touchEach: () => Promise.resolve({ sessionId: "s" }),
    },
  });
}

describe("value entity and action definitions", () => {
  it("refuse handlers that match no method", () => {
    const bogusCommands = { ...commands, bogus: () => ({}) };
    expect(() => valueEntity(UserSession, { ...base, commands: bogusCommands })).toThrow(
      /handler 'bogus' matches no method/,
    );
    const bogusHandlers = {
      touchAll: () => ({}),
      watchSessions: () => [],
      ...streams,
      bogus: () => ({}),
    };
    expect(() => action(SessionFanout, { handlers: bogusHandlers })).toThrow(
      /handler 'bogus' matches no method/,
    );
    expect(() => valueEntity(UserSession, { ...base, entityType: "", commands })).toThrow(
      /entityType/,
    );
  });
});
