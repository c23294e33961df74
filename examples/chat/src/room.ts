/**
 * A chat room as a replicated entity: an ORMap holding the presence (an
 * ORSet of open connections) and the messages (a GSet). Every node may
 * write it; the runtime merges. Presence is a subscription: `Watch` adds the
 * caller's connection and keeps the call open, pushing the room on every
 * change; when the client goes away the cancellation handler removes it.
 */
import { randomUUID } from "node:crypto";
import { GSet, ORMap, ORSet } from "@cairn/crdt";
import { CommandError, Code, replicatedEntity } from "@cairn/sdk";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ChatRoom } from "./gen/chat/v1/chat_pb.js";
import type { RoomViewSchema } from "./gen/chat/v1/chat_pb.js";

/** One open Watch call of a user. */
type Connection = { user: string; connection: string };
type Message = { id: string; user: string; text: string; at: number };

/** How many messages a view shows (the newest). */
export const VIEW_MESSAGES = 50;
const MAX_TEXT = 2_000;

const Presence = ORSet<Connection>;
const Messages = GSet<Message>;

function view(roomId: string, room: ORMap): MessageInitShape<typeof RoomViewSchema> {
  const connections = room.get("presence", Presence)?.value ?? [];
  const online = [...new Set(connections.map((c) => c.user))].sort();
  const messages = [...(room.get("messages", Messages)?.value ?? [])]
    .sort((a, b) => a.at - b.at || a.id.localeCompare(b.id))
    .slice(-VIEW_MESSAGES)
    .map((m) => ({ id: m.id, user: m.user, text: m.text, atEpochMs: BigInt(m.at) }));
  return { roomId, online, messages };
}

function checkUser(user: string): void {
  if (user.trim() === "")
    throw new CommandError(Code.InvalidArgument, "user is empty; give a user name");
}

/** The ChatRoom component. */
export const chatRoom = replicatedEntity(ChatRoom, {
  entityType: "chat-room",
  crdt: ORMap<string>,
  commands: {
    post(cmd, room, ctx) {
      checkUser(cmd.user);
      if (cmd.text.trim() === "" || cmd.text.length > MAX_TEXT)
        throw new CommandError(
          Code.InvalidArgument,
          `text must be 1 to ${MAX_TEXT} characters, got ${cmd.text.length}`,
        );
      const message = { id: randomUUID(), user: cmd.user, text: cmd.text, at: Date.now() };
      room.update("messages", Messages, (m) => m.add(message));
      return view(ctx.entityId, room);
    },
    get: (_cmd, room, ctx) => view(ctx.entityId, room),
    watch(cmd, room, ctx) {
      checkUser(cmd.user);
      const me: Connection = { user: cmd.user, connection: randomUUID() };
      room.update("presence", Presence, (p) => p.add(me));
      ctx.onChange((r, stream) => stream.send(view(ctx.entityId, r)));
      // The client went away: withdraw this connection's presence.
      ctx.onCancel((r) => r.get("presence", Presence)?.remove(me));
      return view(ctx.entityId, room);
    },
    clear(_cmd, _room, ctx) {
      ctx.deleteEntity();
      return { roomId: ctx.entityId };
    },
  },
});
