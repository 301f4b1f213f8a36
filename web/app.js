// The web client: development login, server and channel list with unread
// badges, a message pane with scroll-back, and a composer with optimistic
// send. Every message is keyed by server/channel/seq and shown at most once.
import { GatewaySocket, gatewayUrl } from "./protocol.js";

const TOKEN_KEY = "chat.token";
const OPEN_KEY = "chat.open";
const ACK_TIMEOUT_MS = 10_000;
const PAGE_SIZE = 50;
const CATCH_UP_PAGE_SIZE = 100;
const TOAST_MS = 5_000;

const $ = (id) => document.getElementById(id);
const ui = {
  banner: $("reconnect-banner"),
  loginView: $("login-view"),
  loginForm: $("login-form"),
  loginName: $("login-name"),
  loginError: $("login-error"),
  chatView: $("chat-view"),
  serverList: $("server-list"),
  meName: $("me-name"),
  meAvatar: $("me-avatar"),
  logout: $("logout"),
  title: $("channel-title"),
  messages: $("messages"),
  loadOlder: $("load-older"),
  list: $("message-list"),
  composer: $("composer"),
  input: $("composer-input"),
  send: $("composer-send"),
  toasts: $("toasts"),
};

// Everything the page knows; reset on logout.
let state = freshState();

function freshState() {
  return {
    socket: null,
    user: null,
    maxMessageChars: 0,
    servers: [], // [{id, name, channels: [channel]}] in server order.
    channels: new Map(), // "server/channel" -> {id, server, name, headSeq, unread, button, badge}
    logs: new Map(), // "server/channel" -> log (see logFor)
    open: null, // "server/channel" of the channel in the pane.
    requests: new Map(), // history request id -> {key, kind: "initial" | "older" | "after"}
    outbox: new Map(), // nonce -> {key, entry} for own messages not yet acked.
    nextRequest: 1,
  };
}

const keyOf = (server, channel) => `${server}/${channel}`;
const toInt = (value) =>
  value === undefined || value === null || value === "" ? 0 : Number(value);

// ---- login ------------------------------------------------------------------

ui.loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = ui.loginName.value.trim();
  if (!name) return;
  ui.loginError.textContent = "";
  ui.loginForm.querySelector("button").disabled = true;
  try {
    const res = await fetch("/api/dev/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    const body = await res.json().catch(() => null);
    if (!res.ok || !body?.token)
      throw new Error(body?.error || `Login failed (HTTP ${res.status})`);
    sessionStorage.setItem(TOKEN_KEY, body.token);
    startSession(body.token, body.user);
  } catch (err) {
    ui.loginError.textContent = err.message;
  } finally {
    ui.loginForm.querySelector("button").disabled = false;
  }
});

ui.logout.addEventListener("click", () => endSession(""));

function showLogin(message) {
  ui.chatView.hidden = true;
  ui.banner.hidden = true;
  ui.loginView.hidden = false;
  ui.loginError.textContent = message;
  ui.loginName.focus();
}

function startSession(token, user) {
  state = freshState();
  state.user = user ?? null;
  showIdentity();
  ui.loginView.hidden = true;
  ui.chatView.hidden = false;
  showBanner("Connecting…");
  state.socket = new GatewaySocket({
    url: gatewayUrl(),
    token,
    onReady,
    onFrame,
    onDown: () => {
      state.requests.clear(); // Replies to these will never come.
      for (const log of state.logs.values()) log.loadingOlder = false;
      showBanner("Reconnecting…");
    },
    onAuthLost: () =>
      endSession("Your session has expired. Please log in again."),
  });
  state.socket.start();
}

function endSession(message) {
  state.socket?.stop();
  for (const { entry } of state.outbox.values()) clearTimeout(entry.timer);
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(OPEN_KEY);
  state = freshState();
  ui.serverList.replaceChildren();
  ui.list.replaceChildren();
  showLogin(message);
}

function showBanner(text) {
  ui.banner.textContent = text;
  ui.banner.hidden = false;
}

function showIdentity() {
  const name = state.user?.name ?? "";
  ui.meName.textContent = name;
  paintAvatar(ui.meAvatar, name);
}

// ---- frames -----------------------------------------------------------------

function onReady(frame) {
  ui.banner.hidden = true;
  state.user = frame.user ?? state.user;
  state.maxMessageChars = toInt(frame.max_message_chars);
  if (state.maxMessageChars > 0) ui.input.maxLength = state.maxMessageChars;
  showIdentity();

  state.servers = [];
  state.channels = new Map();
  for (const server of frame.servers ?? []) addServer(server);
  renderSidebar();

  // Reopen the channel we were in (after a reconnect or a reload) or the first one.
  const wanted = state.open ?? sessionStorage.getItem(OPEN_KEY);
  const first = state.servers[0]?.channels[0];
  const key = state.channels.has(wanted)
    ? wanted
    : first
      ? keyOf(first.server, first.id)
      : null;

  // Logs kept from before a disconnect may have missed messages.
  for (const [logKey, log] of state.logs)
    log.stale = log.loaded && logKey !== key;
  state.open = null;
  if (key) openChannel(key, { catchUp: true });
  else renderPane();

  // Messages sent while we were away are resent with the same nonce; the
  // server de-duplicates, so this never posts a message twice.
  for (const { key: entryKey, entry } of state.outbox.values()) {
    if (entry.state === "pending") transmit(entryKey, entry);
  }
}

function onFrame(frame) {
  switch (frame.type) {
    case "chat_message":
      onChatMessage(frame);
      break;
    case "ack":
      onAck(frame);
      break;
    case "history":
      onHistory(frame);
      break;
    case "error":
      onError(frame);
      break;
    case "server_joined":
      if (frame.server) {
        addServer(frame.server);
        renderSidebar();
      }
      break;
    default:
      break; // Frames this client does not use yet (typing, presence, ...).
  }
}

function addServer(server) {
  const entry = { id: server.id, name: server.name || server.id, channels: [] };
  for (const ch of server.channels ?? []) {
    const key = keyOf(server.id, ch.id);
    const channel = {
      id: ch.id,
      server: server.id,
      name: ch.name || ch.id,
      headSeq: toInt(ch.head_seq),
      unread: Math.max(0, toInt(ch.unread)),
      button: null,
      badge: null,
    };
    // Never let a fresh server count hide messages we already hold locally.
    const log = state.logs.get(key);
    if (log) channel.headSeq = Math.max(channel.headSeq, newestSeq(log));
    entry.channels.push(channel);
    state.channels.set(key, channel);
  }
  const existing = state.servers.findIndex((s) => s.id === entry.id);
  if (existing >= 0) state.servers[existing] = entry;
  else state.servers.push(entry);
}

function onChatMessage(frame) {
  const key = keyOf(frame.server, frame.channel);
  const entry = ingest(key, frame);
  if (!entry) return;
  const channel = state.channels.get(key);
  if (channel) {
    const seq = entry.seq;
    if (key !== state.open && seq > channel.headSeq && !isMine(frame)) {
      channel.unread += 1;
      renderBadge(channel);
    }
    channel.headSeq = Math.max(channel.headSeq, seq);
  }
  if (key === state.open) renderPane({ stickToBottom: true });
}

function onAck(frame) {
  const pending = state.outbox.get(frame.id);
  if (!pending) return;
  state.outbox.delete(frame.id);
  const { key, entry } = pending;
  const log = logFor(key);
  const seq = toInt(frame.seq);
  if (entry.seq === null) {
    if (log.bySeq.has(seq)) {
      // Already shown under this seq (e.g. from history): drop the optimistic copy.
      log.own.delete(entry.id);
      clearTimeout(entry.timer);
    } else {
      settle(entry, seq, frame.sent_at);
      log.bySeq.set(seq, entry);
    }
  }
  const channel = state.channels.get(key);
  if (channel) channel.headSeq = Math.max(channel.headSeq, seq);
  if (key === state.open) renderPane({ stickToBottom: true });
}

function onHistory(frame) {
  const request = state.requests.get(frame.id);
  if (!request) return;
  state.requests.delete(frame.id);
  const { key, kind, limit } = request;
  const log = logFor(key);
  const messages = frame.messages ?? [];
  const seqs = [];
  for (const message of messages) {
    ingest(key, message);
    seqs.push(toInt(message.seq));
  }
  const lowest = seqs.length ? Math.min(...seqs) : 0;
  const channel = state.channels.get(key);
  if (channel)
    channel.headSeq = Math.max(
      channel.headSeq,
      toInt(frame.head_seq),
      newestSeq(log),
    );

  if (kind === "initial" || kind === "older") {
    log.loaded = true;
    log.hasOlder = messages.length >= limit && lowest > 1;
    log.loadingOlder = false;
  } else if (kind === "after" && messages.length >= limit) {
    requestHistory(key, "after"); // More to catch up on.
  }
  if (key === state.open)
    renderPane({
      keepOffset: kind === "older",
      stickToBottom: kind !== "older",
    });
}

function onError(frame) {
  const pending = frame.id ? state.outbox.get(frame.id) : null;
  const retry = toInt(frame.retry_after_ms);
  let text = frame.message || frame.code || "Something went wrong";
  if (retry > 0) text += ` (retry in ${Math.ceil(retry / 1000)} s)`;
  if (pending) {
    fail(pending.key, pending.entry, text);
  } else if (frame.id && state.requests.has(frame.id)) {
    const { key } = state.requests.get(frame.id);
    state.requests.delete(frame.id);
    logFor(key).loadingOlder = false;
  }
  toast(text);
}

// ---- the message log --------------------------------------------------------

// A log holds every message known for one channel: sent ones by seq, and the
// user's own messages by nonce until (and after) they are acked.
function logFor(key) {
  let log = state.logs.get(key);
  if (!log) {
    log = {
      bySeq: new Map(), // seq -> entry
      own: new Map(), // nonce -> entry, in send order
      loaded: false, // the first history page has arrived
      stale: false, // may have missed messages while disconnected
      hasOlder: false,
      loadingOlder: false,
    };
    state.logs.set(key, log);
  }
  return log;
}

function newestSeq(log) {
  let max = 0;
  for (const seq of log.bySeq.keys()) if (seq > max) max = seq;
  return max;
}

function oldestSeq(log) {
  let min = 0;
  for (const seq of log.bySeq.keys()) if (min === 0 || seq < min) min = seq;
  return min;
}

function isMine(message) {
  if (!state.user) return false;
  return message.author_id
    ? message.author_id === state.user.id
    : message.author === state.user.name;
}

// Adds a stored message (live or from history). Returns the new entry, or
// null when this seq is already shown.
function ingest(key, message) {
  const seq = toInt(message.seq);
  if (!Number.isSafeInteger(seq) || seq <= 0) return null;
  const log = logFor(key);
  if (log.bySeq.has(seq)) return null;
  let entry = message.id ? log.own.get(message.id) : undefined;
  if (entry && entry.seq === null && isMine(message)) {
    // Our own optimistic message came back before (or instead of) its ack.
    settle(entry, seq, message.sent_at);
    state.outbox.delete(entry.id);
  } else {
    entry = {
      seq,
      id: message.id ?? "",
      message: message.message ?? "",
      author: message.author ?? "",
      sentAt: toInt(message.sent_at),
      state: "sent",
      error: "",
      timer: 0,
      row: null,
    };
  }
  log.bySeq.set(seq, entry);
  return entry;
}

function settle(entry, seq, sentAt) {
  clearTimeout(entry.timer);
  entry.seq = seq;
  entry.state = "sent";
  entry.error = "";
  if (sentAt) entry.sentAt = toInt(sentAt);
}

function fail(key, entry, error) {
  if (entry.seq !== null) return;
  clearTimeout(entry.timer);
  entry.state = "failed";
  entry.error = error;
  if (key === state.open) renderPane();
}

// ---- channels and history ---------------------------------------------------

function openChannel(key, { catchUp = false } = {}) {
  const channel = state.channels.get(key);
  if (!channel) return;
  const switched = state.open !== key;
  state.open = key;
  sessionStorage.setItem(OPEN_KEY, key);
  channel.unread = 0;
  for (const ch of state.channels.values()) {
    ch.button?.classList.toggle("active", ch === channel);
    if (ch.button)
      ch.button.setAttribute("aria-current", ch === channel ? "true" : "false");
  }
  renderBadge(channel);
  ui.title.textContent = `# ${channel.name}`;
  ui.input.disabled = false;
  ui.send.disabled = false;
  ui.input.placeholder = `Message #${channel.name}`;

  const log = logFor(key);
  if (!log.loaded) {
    if (
      ![...state.requests.values()].some(
        (r) => r.key === key && r.kind === "initial",
      )
    ) {
      requestHistory(key, "initial");
    }
  } else if (log.stale || catchUp) {
    log.stale = false;
    requestHistory(key, "after");
  }
  renderPane({ stickToBottom: switched || catchUp, forceBottom: switched });
  if (switched) ui.input.focus();
}

function requestHistory(key, kind) {
  const channel = state.channels.get(key);
  if (!channel || !state.socket?.ready) return;
  const log = logFor(key);
  const limit = kind === "after" ? CATCH_UP_PAGE_SIZE : PAGE_SIZE;
  const id = `h${state.nextRequest++}`;
  const frame = {
    type: "history",
    server: channel.server,
    channel: channel.id,
    limit,
    id,
  };
  if (kind === "older") frame.before = oldestSeq(log);
  if (kind === "after") frame.after = newestSeq(log);
  if (state.socket.send(frame)) {
    state.requests.set(id, { key, kind, limit });
    if (kind === "older") log.loadingOlder = true;
  }
}

function loadOlder() {
  const log = state.open ? logFor(state.open) : null;
  if (!log || !log.hasOlder || log.loadingOlder) return;
  requestHistory(state.open, "older");
  renderPane();
}

ui.loadOlder.addEventListener("click", loadOlder);
ui.messages.addEventListener("scroll", () => {
  if (ui.messages.scrollTop < 8) loadOlder();
});

// ---- sending ----------------------------------------------------------------

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.input.value;
  if (!state.open || text.trim() === "") return;
  if (state.maxMessageChars > 0 && [...text].length > state.maxMessageChars) {
    toast(`Messages are limited to ${state.maxMessageChars} characters`);
    return;
  }
  const key = state.open;
  const entry = {
    seq: null,
    id: nonce(),
    message: text,
    author: state.user?.name ?? "",
    sentAt: Date.now(),
    state: "pending",
    error: "",
    timer: 0,
    row: null,
  };
  logFor(key).own.set(entry.id, entry);
  ui.input.value = "";
  transmit(key, entry);
  renderPane({ forceBottom: true });
});

// Sends (or resends, with the same nonce) one of our messages and arms the
// ack timeout. While disconnected the message waits and goes out on ready.
function transmit(key, entry) {
  const channel = state.channels.get(key);
  clearTimeout(entry.timer);
  entry.state = "pending";
  entry.error = "";
  state.outbox.set(entry.id, { key, entry });
  entry.timer = setTimeout(
    () => fail(key, entry, "Not delivered"),
    ACK_TIMEOUT_MS,
  );
  if (channel) {
    state.socket?.send({
      type: "chat_message",
      server: channel.server,
      channel: channel.id,
      message: entry.message,
      id: entry.id,
    });
  }
}

function nonce() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // Plain-http pages lack randomUUID.
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- rendering --------------------------------------------------------------

function renderSidebar() {
  const sections = state.servers.map((server) => {
    const section = document.createElement("section");
    section.className = "server";
    const heading = document.createElement("h2");
    heading.textContent = server.name;
    const list = document.createElement("ul");
    for (const channel of server.channels) {
      const key = keyOf(channel.server, channel.id);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "channel";
      button.dataset.testid = `channel-${channel.server}-${channel.id}`;
      button.classList.toggle("active", key === state.open);
      button.addEventListener("click", () => openChannel(key));
      const name = document.createElement("span");
      name.className = "channel-name";
      name.textContent = channel.name;
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.testid = `unread-${channel.server}-${channel.id}`;
      button.append(name, badge);
      channel.button = button;
      channel.badge = badge;
      renderBadge(channel);
      const item = document.createElement("li");
      item.append(button);
      list.append(item);
    }
    section.append(heading, list);
    return section;
  });
  ui.serverList.replaceChildren(...sections);
}

function renderBadge(channel) {
  if (!channel.badge) return;
  channel.badge.textContent = String(channel.unread);
  channel.badge.dataset.count = String(channel.unread);
  channel.badge.hidden = channel.unread <= 0;
  channel.button.classList.toggle("unread", channel.unread > 0);
}

// Redraws the open channel's messages, reusing each message's row element.
function renderPane({
  stickToBottom = false,
  forceBottom = false,
  keepOffset = false,
} = {}) {
  const pane = ui.messages;
  const nearBottom =
    pane.scrollHeight - pane.scrollTop - pane.clientHeight < 48;
  const fromBottom = pane.scrollHeight - pane.scrollTop;
  const log = state.open ? logFor(state.open) : null;

  pane.dataset.channel = state.open ?? "";
  pane.dataset.loaded = String(Boolean(log?.loaded));
  ui.loadOlder.hidden = !log?.hasOlder;
  ui.loadOlder.disabled = Boolean(log?.loadingOlder);
  ui.loadOlder.textContent = log?.loadingOlder
    ? "Loading…"
    : "Load older messages";

  const ordered = [];
  if (log) {
    const sent = [...log.bySeq.values()].sort((a, b) => a.seq - b.seq);
    const unsent = [...log.own.values()].filter((e) => e.seq === null);
    ordered.push(...sent, ...unsent);
  }
  let cursor = ui.list.firstElementChild;
  for (const entry of ordered) {
    const row = rowFor(entry);
    if (row === cursor) cursor = cursor.nextElementSibling;
    else ui.list.insertBefore(row, cursor);
  }
  while (cursor) {
    const next = cursor.nextElementSibling;
    cursor.remove();
    cursor = next;
  }

  if (keepOffset) pane.scrollTop = pane.scrollHeight - fromBottom;
  else if (forceBottom || (stickToBottom && nearBottom))
    pane.scrollTop = pane.scrollHeight;
}

function rowFor(entry) {
  if (!entry.row) {
    const row = document.createElement("li");
    row.className = "message";
    row.dataset.testid = "message";
    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.setAttribute("aria-hidden", "true");
    paintAvatar(avatar, entry.author);
    const body = document.createElement("div");
    body.className = "message-body";
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.dataset.testid = "message-author";
    author.textContent = entry.author;
    const time = document.createElement("time");
    time.className = "time";
    time.dataset.testid = "message-time";
    meta.append(author, time);
    const text = document.createElement("div");
    text.className = "text";
    text.dataset.testid = "message-text";
    text.textContent = entry.message; // Never innerHTML: message text is untrusted.
    const status = document.createElement("div");
    status.className = "status";
    const error = document.createElement("span");
    error.dataset.testid = "message-error";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "link-button";
    retry.dataset.testid = "message-retry";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => {
      const key = findKeyOf(entry);
      if (key) transmit(key, entry);
      renderPane();
    });
    status.append(error, retry);
    body.append(meta, text, status);
    row.append(avatar, body);
    entry.row = row;
    entry.parts = { time, status, error };
  }
  const { row } = entry;
  if (entry.seq !== null) row.dataset.seq = String(entry.seq);
  else delete row.dataset.seq;
  row.dataset.state = entry.state;
  const when = new Date(entry.sentAt || Date.now());
  entry.parts.time.dateTime = when.toISOString();
  entry.parts.time.textContent = formatTime(when);
  entry.parts.status.hidden = entry.state !== "failed";
  entry.parts.error.textContent = entry.error || "Not delivered";
  return row;
}

function findKeyOf(entry) {
  for (const [key, log] of state.logs)
    if (log.own.get(entry.id) === entry) return key;
  return null;
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: "numeric",
  minute: "2-digit",
});
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "short",
  timeStyle: "short",
});

function formatTime(date) {
  const today = new Date().toDateString() === date.toDateString();
  return today ? timeFormat.format(date) : dateTimeFormat.format(date);
}

function paintAvatar(element, name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  element.textContent = [...name][0]?.toUpperCase() ?? "?";
  element.style.backgroundColor = `hsl(${hash % 360} 45% 45%)`;
}

function toast(text) {
  const item = document.createElement("div");
  item.className = "toast";
  item.dataset.testid = "toast";
  item.textContent = text;
  ui.toasts.append(item);
  setTimeout(() => item.remove(), TOAST_MS);
}

// ---- start ------------------------------------------------------------------

const savedToken = sessionStorage.getItem(TOKEN_KEY);
if (savedToken) startSession(savedToken, null);
else showLogin("");
