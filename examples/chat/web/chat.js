// The chat page: watches the room over server-sent events (the Watch
// subscription; while it is open this user is online) and posts messages
// over HTTP/JSON. Everything the page shows is set with textContent.
const params = new URLSearchParams(location.search);
const room = params.get("room") || "lobby";
const user = params.get("user") || `guest-${Math.random().toString(36).slice(2, 6)}`;
const config = await (await fetch("config.json")).json();
const runtime = params.get("runtime") || config.runtime;
const roomUrl = `${runtime}/rooms/${encodeURIComponent(room)}`;

document.getElementById("room").textContent = room;
document.getElementById("me").textContent = user;
const status = document.getElementById("status");

function render(view) {
  const online = document.getElementById("online");
  online.replaceChildren(
    ...(view.online ?? []).map((name) => {
      const li = document.createElement("li");
      li.textContent = name;
      return li;
    }),
  );
  const messages = document.getElementById("messages");
  messages.replaceChildren(
    ...(view.messages ?? []).map((m) => {
      const li = document.createElement("li");
      const who = document.createElement("b");
      who.textContent = m.user;
      li.append(who, m.text);
      return li;
    }),
  );
}

const events = new EventSource(`${roomUrl}/watch?user=${encodeURIComponent(user)}`);
events.onopen = () => (status.textContent = "live");
events.onmessage = (e) => render(JSON.parse(e.data));
events.onerror = () => (status.textContent = "reconnecting…");

document.getElementById("post").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = document.getElementById("text");
  const text = input.value;
  input.value = "";
  const res = await fetch(`${roomUrl}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, text }),
  });
  if (!res.ok) status.textContent = `could not send: ${(await res.json()).message}`;
});
