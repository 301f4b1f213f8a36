// The web client: development login, server and channel list with unread
// badges (read markers kept on the server, shared by every tab), a message
// pane with scroll-back, a composer with optimistic send, typing indicators,
// a status picker, and a people panel (friends, invitations, members with
// presence). A reconnect resumes from the newest seq held per channel and the
// newest user_seq; the server replays what was missed. Every message is keyed
// by server/channel/seq and shown at most once. Untrusted text (messages,
// names) is only ever set with textContent.
import { GatewaySocket, gatewayUrl } from "./protocol.js";

const TOKEN_KEY = "chat.token";
const OPEN_KEY = "chat.open";
const STATUS_KEY = "chat.status";
const ACK_TIMEOUT_MS = 10_000;
const PAGE_SIZE = 50;
const EVENTS_KEPT = 1000; // edit and delete seqs remembered per channel
// Read markers go to the server at most this often (one frame per channel).
const READ_SEND_INTERVAL_MS = 250;
const TOAST_MS = 5_000;
// How long a first click on Delete waits for the confirming one.
const DELETE_CONFIRM_MS = 4_000;
// Send "typing" at most this often per channel (the server relays no more).
const TYPING_SEND_INTERVAL_MS = 3_000;
// How long to show someone typing when the event does not say.
const TYPING_SHOW_MS = 10_000;
// The seed's button delay for invite and cancel/decline, per other user. The
// server enforces the same window; this only spares it pointless frames.
const INVITE_DELAY_MS = 1_500;
// Offline members listed at most (friends and the recently seen first).
const OFFLINE_SHOWN = 100;
const STATUSES = ["online", "idle", "dnd", "invisible"];
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

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
  meDot: $("me-dot"),
  statusSelect: $("status-select"),
  logout: $("logout"),
  title: $("channel-title"),
  slowModeNote: $("slow-mode-note"),
  slowModeSelect: $("slow-mode-select"),
  messages: $("messages"),
  loadOlder: $("load-older"),
  list: $("message-list"),
  composer: $("composer"),
  input: $("composer-input"),
  send: $("composer-send"),
  typing: $("typing-indicator"),
  inviteForm: $("invite-form"),
  inviteInput: $("invite-input"),
  inviteServer: $("invite-server"),
  invitationsHeading: $("invitations-heading"),
  invitationList: $("invitation-list"),
  friendsHeading: $("friends-heading"),
  friendList: $("friend-list"),
  memberList: $("member-list"),
  toasts: $("toasts"),
};

// Everything the page knows; reset on logout.
let state = freshState();

function freshState() {
  return {
    socket: null,
    user: null,
    maxMessageChars: 0,
    servers: [], // [{id, name, channels: [channel], badge}] in server order.
    channels: new Map(), // "server/channel" -> channel (see addChannel)
    logs: new Map(), // "server/channel" -> log (see logFor)
    open: null, // "server/channel" of the channel in the pane.
    requests: new Map(), // history request id -> {key, kind: "initial" | "older"}
    sessionId: "", // of the last ready: a reconnect resumes from it
    userSeq: 0, // newest user_seq seen: the personal stream's cursor
    cursors: new Map(), // "server/channel" -> newest seq held with none missing before it
    heartbeatTurn: 0, // where the next heartbeat's share of the channels starts
    resuming: null, // Set of the keys the pending identify resumes, or null
    readTimer: 0,
    outbox: new Map(), // nonce -> {key, entry} for own messages not yet acked.
    nextRequest: 1,
    status: savedStatus(), // this tab's chosen status (sent with identify)
    directory: new Map(), // user id -> {id, name, image}, from every source
    friends: new Map(), // user id -> {id, name, image}
    invitations: new Map(), // invitation id -> pending Invitation
    busy: new Set(), // invitation ids with an accept/cancel in flight
    presences: new Map(), // user id -> {status, lastSeen}
    authors: new Set(), // ids of everyone seen posting in our channels
    typing: new Map(), // "server/channel" -> Map(user id -> {name, timer})
    typingSent: new Map(), // "server/channel" -> when we last sent "typing"
    invitationRequests: new Map(), // request id -> {action, other, invitation, at}
    moderation: new Map(), // moderation request id -> what to do on its ack
  };
}

function savedStatus() {
  const saved = sessionStorage.getItem(STATUS_KEY);
  return STATUSES.includes(saved) ? saved : "online";
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
    status: state.status,
    resume: resumeCursors,
    onReady,
    onFrame,
    onDown: () => {
      state.requests.clear(); // Replies to these will never come.
      for (const log of state.logs.values()) log.loadingOlder = false;
      showBanner("Reconnecting…");
    },
    onAuthLost: () =>
      endSession("Your session has expired. Please log in again."),
    watermarks,
  });
  state.socket.start();
}

function endSession(message) {
  state.socket?.stop();
  for (const { entry } of state.outbox.values()) clearTimeout(entry.timer);
  clearTimeout(state.readTimer);
  for (const typers of state.typing.values())
    for (const { timer } of typers.values()) clearTimeout(timer);
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(OPEN_KEY);
  sessionStorage.removeItem(STATUS_KEY);
  state = freshState();
  ui.serverList.replaceChildren();
  ui.list.replaceChildren();
  ui.inviteInput.value = "";
  renderTyping();
  renderInvitations();
  renderPeople();
  renderMe();
  showLogin(message);
}

function showBanner(text) {
  ui.banner.textContent = text;
  ui.banner.hidden = false;
}

function showIdentity() {
  const name = state.user?.name ?? "";
  ui.meName.textContent = name;
  ui.meName.dataset.userId = state.user?.id ?? "";
  ui.meName.title = state.user ? `${name} (${state.user.id})` : "";
  paintAvatar(ui.meAvatar, name);
  if (state.user) remember(state.user.id, state.user.name, state.user.image);
  renderMe();
}

// ---- frames -----------------------------------------------------------------

// The "resume" block of identify: nothing before the first ready of this
// page; after it, the previous session, the personal cursor, and a cursor for
// every channel with messages on hand (the others are loaded on opening, and
// their unread counts come with ready).
function resumeCursors() {
  state.resuming = null;
  if (!state.sessionId) return null;
  const channels = [];
  for (const [key, channel] of state.channels) {
    if (!state.logs.has(key) || !state.cursors.has(key)) continue;
    channels.push({
      server: channel.server,
      channel: channel.id,
      seq: String(state.cursors.get(key)),
    });
  }
  state.resuming = new Set(channels.map((c) => keyOf(c.server, c.channel)));
  return {
    session_id: state.sessionId,
    channels,
    user_seq: String(state.userSeq),
  };
}

// The "heartbeat" watermarks: per channel followed, the newest seq held with
// none missing before it (ready's head counts as held), and the personal
// cursor. At most HEARTBEAT_CHANNELS channels per heartbeat, taken in turn,
// so the frame stays far below the gateway's frame limit.
const HEARTBEAT_CHANNELS = 100;
function watermarks() {
  const all = [];
  for (const [key, channel] of state.channels) {
    if (!state.cursors.has(key)) continue;
    all.push({
      server: channel.server,
      channel: channel.id,
      seq: String(state.cursors.get(key)),
    });
  }
  let channels = all;
  if (all.length > HEARTBEAT_CHANNELS) {
    const start = state.heartbeatTurn % all.length;
    channels = all.slice(start, start + HEARTBEAT_CHANNELS);
    if (channels.length < HEARTBEAT_CHANNELS)
      channels.push(...all.slice(0, HEARTBEAT_CHANNELS - channels.length));
    state.heartbeatTurn = start + HEARTBEAT_CHANNELS;
  }
  return { channels, user_seq: String(state.userSeq) };
}

function onReady(frame) {
  ui.banner.hidden = true;
  const resumed = state.resuming;
  state.resuming = null;
  state.sessionId = frame.session_id ?? "";
  state.user = frame.user ?? state.user;
  state.maxMessageChars = toInt(frame.max_message_chars);
  if (state.maxMessageChars > 0) ui.input.maxLength = state.maxMessageChars;
  showIdentity();

  // A resumed stream continues from its cursor: the server replays every
  // event after it. Every other one starts at ready's heads (older messages
  // are in history, newer ones arrive live).
  const kept = new Map();
  for (const key of resumed ?? [])
    if (state.cursors.has(key)) kept.set(key, state.cursors.get(key));
  state.servers = [];
  state.channels = new Map();
  for (const server of frame.servers ?? []) addServer(server);
  for (const [key, seq] of kept) state.cursors.set(key, seq);
  for (const key of state.channels.keys()) advanceCursor(key);
  const userSeq = toInt(frame.user_seq);
  if (!resumed || userSeq < state.userSeq) state.userSeq = userSeq;
  renderSidebar();

  // Friends, invitations and presences: ready is the whole truth; a resume
  // replays the personal events missed since too (their toasts).
  state.friends = new Map();
  for (const friend of frame.friends ?? []) {
    if (!friend?.id) continue;
    remember(friend.id, friend.name, friend.image);
    state.friends.set(friend.id, state.directory.get(friend.id));
  }
  state.invitations = new Map();
  state.busy.clear();
  for (const inv of frame.invitations ?? []) {
    if (!inv?.id || inv.state !== "pending") continue;
    remember(inv.inviting, inv.inviting_name, inv.inviting_img);
    remember(inv.invited, inv.invited_name, inv.invited_img);
    state.invitations.set(inv.id, inv);
  }
  state.presences = new Map();
  for (const presence of frame.presences ?? []) applyPresence(presence);
  renderInviteServers();
  renderInvitations();
  renderPeople();
  renderMe();

  // Reopen the channel we were in (after a reconnect or a reload) or the first one.
  const wanted = state.open ?? sessionStorage.getItem(OPEN_KEY);
  const first = state.servers[0]?.channels[0];
  const key = state.channels.has(wanted)
    ? wanted
    : first
      ? keyOf(first.server, first.id)
      : null;
  state.open = null;
  if (key) openChannel(key);
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
    case "message_update":
    case "message_delete":
      onRevision(frame);
      break;
    case "history":
      onHistory(frame);
      break;
    case "error":
      onError(frame);
      break;
    case "read_state":
      if (freshPersonal(frame)) onReadState(frame);
      break;
    case "server_joined":
      if (freshPersonal(frame) && frame.server) {
        addServer(frame.server);
        renderSidebar();
        renderInviteServers();
      }
      break;
    case "server_removed":
      if (freshPersonal(frame)) onServerRemoved(frame);
      break;
    case "channel_created":
      if (freshPersonal(frame)) onChannelCreated(frame);
      break;
    case "invitation":
    case "cancel_invitation":
    case "accept_invitation":
    case "invitation_expired":
      if (freshPersonal(frame)) onInvitationEvent(frame);
      break;
    case "resync_required":
      onResync(frame);
      break;
    case "presence":
      if (applyPresence(frame)) {
        renderPeople();
        if (frame.user_id === state.user?.id) renderMe();
      }
      break;
    case "typing":
      onTyping(frame);
      break;
    default:
      break; // Frames this client does not use ("resumed" among them).
  }
}

// Personal events carry their user_seq. One at or below the newest seen has
// been applied already (or is in ready's state) and is dropped; otherwise it
// becomes the personal cursor.
function freshPersonal(frame) {
  const seq = toInt(frame.user_seq);
  if (!(seq > 0)) return true; // Not from the personal log.
  if (seq <= state.userSeq) return false;
  state.userSeq = seq;
  return true;
}

function addServer(server) {
  const entry = {
    id: server.id,
    name: server.name || server.id,
    role: server.role || "", // "owner" | "moderator" | "" (see ready)
    channels: [],
    badge: null,
  };
  for (const ch of server.channels ?? [])
    entry.channels.push(addChannel(server.id, ch));
  const existing = state.servers.findIndex((s) => s.id === entry.id);
  if (existing < 0) {
    state.servers.push(entry);
    return;
  }
  // A repeated server_joined (a resume replays it) may predate channels
  // created since: keep those. It carries no role: keep the one known.
  if (!server.role) entry.role = state.servers[existing].role;
  const listed = new Set(entry.channels.map((ch) => ch.id));
  for (const ch of state.servers[existing].channels)
    if (!listed.has(ch.id)) entry.channels.push(ch);
  state.servers[existing] = entry;
}

// The user was removed or banned: the server leaves the view with its
// channels and everything held of them (the gateway sends nothing more).
function onServerRemoved(frame) {
  const index = state.servers.findIndex((s) => s.id === frame.server);
  if (index < 0) return;
  const [server] = state.servers.splice(index, 1);
  for (const ch of server.channels) {
    const key = keyOf(server.id, ch.id);
    state.channels.delete(key);
    state.logs.delete(key);
    state.cursors.delete(key);
  }
  const wasOpen = state.open?.startsWith(`${server.id}/`);
  renderSidebar();
  renderInviteServers();
  if (wasOpen) {
    state.open = null;
    const first = state.servers[0]?.channels[0];
    if (first) openChannel(keyOf(first.server, first.id));
    else closePane();
  }
  const how = frame.reason === "banned" ? "banned from" : "removed from";
  toast(`You were ${how} ${server.name}`, "info");
}

// Records a channel from ready, server_joined or channel_created. Its unread
// count is the server's: head_seq - last_read_seq (see unreadOf).
function addChannel(serverId, ch) {
  const key = keyOf(serverId, ch.id);
  const known = state.channels.get(key);
  const lastRead = toInt(ch.last_read_seq);
  const channel = {
    id: ch.id,
    server: serverId,
    name: ch.name || ch.id,
    slowMode: Math.max(0, toInt(ch.slow_mode_s)), // seconds; 0 is off
    headSeq: Math.max(
      toInt(ch.head_seq),
      lastRead + Math.max(0, toInt(ch.unread)),
    ),
    lastRead, // the read marker: never moves backwards
    // Seqs that are no unread message (edit and delete events, deleted
    // messages), as the server counted them up to a head, plus those
    // learned since: unread is headSeq - lastRead - skipped (see skipOf).
    skipBase: {
      upTo: toInt(ch.head_seq),
      count: Math.max(
        0,
        toInt(ch.head_seq) - lastRead - Math.max(0, toInt(ch.unread)),
      ),
    },
    skipSeqs: new Set(),
    mentions: Math.max(0, toInt(ch.mentions)), // after lastRead
    readSent: lastRead, // the newest marker the server has or was sent
    button: null,
    badge: null,
  };
  if (known) {
    // A repeated event (server_joined says last_read_seq 0): markers and
    // heads only ever grow.
    channel.headSeq = Math.max(channel.headSeq, known.headSeq);
    if (known.lastRead >= lastRead) {
      channel.mentions = known.mentions;
      channel.skipBase = known.skipBase;
      channel.skipSeqs = known.skipSeqs;
    }
    channel.lastRead = Math.max(lastRead, known.lastRead);
    channel.readSent = Math.max(channel.readSent, known.readSent);
  }
  // Never let a fresh server count hide messages we already hold locally.
  const log = state.logs.get(key);
  if (log) channel.headSeq = Math.max(channel.headSeq, newestSeq(log));
  state.channels.set(key, channel);
  // Messages after the head arrive live; older ones are in history.
  if (!known) state.cursors.set(key, channel.headSeq);
  return channel;
}

function onChannelCreated(frame) {
  const ch = frame.channel;
  const server = state.servers.find((s) => s.id === ch?.server);
  if (!ch?.id || !server || state.channels.has(keyOf(server.id, ch.id))) return;
  server.channels.push(addChannel(server.id, ch));
  renderSidebar();
}

// Another session (or this one) moved a read marker.
function onReadState(frame) {
  const channel = state.channels.get(keyOf(frame.server, frame.channel));
  if (!channel) return;
  const marker = toInt(frame.last_read_seq);
  // unread was head_seq - marker when the marker moved: messages up to that
  // head are already counted, whether or not they have reached this tab.
  channel.headSeq = Math.max(
    channel.headSeq,
    marker + Math.max(0, toInt(frame.unread)),
  );
  if (marker >= channel.lastRead) {
    channel.mentions = Math.max(0, toInt(frame.mentions));
    // The server counted unread up to head_seq as of the move; what came
    // after it is counted here.
    const head = toInt(frame.head_seq);
    if (head > 0) {
      channel.skipBase = {
        upTo: head,
        count: Math.max(0, head - marker - Math.max(0, toInt(frame.unread))),
      };
      for (const seq of channel.skipSeqs)
        if (seq <= head) channel.skipSeqs.delete(seq);
    }
  }
  channel.lastRead = Math.max(channel.lastRead, marker);
  channel.readSent = Math.max(channel.readSent, marker);
  renderBadge(channel);
}

// A resume cursor was older than the log retains. For a channel: drop what
// we hold and load it again (the replay goes on from oldest_seq). For the
// personal stream, ready's state already holds what the lost events did.
function onResync(frame) {
  // "trimmed": the stream goes on at oldest_seq. "rolled_back": the server
  // lost from_seq..to_seq; what follows is above to_seq.
  const after =
    frame.reason === "rolled_back"
      ? toInt(frame.to_seq)
      : toInt(frame.oldest_seq) - 1;
  if (frame.scope !== "channel") {
    state.userSeq = Math.max(state.userSeq, after);
    return;
  }
  const key = keyOf(frame.server, frame.channel);
  const log = state.logs.get(key);
  if (log) {
    for (const [id, entry] of log.own)
      if (entry.seq !== null) log.own.delete(id); // Unsent ones stay.
    log.bySeq.clear();
    log.events.clear();
    log.newest = 0;
    log.loaded = false;
    log.hasOlder = false;
    log.olderFrom = 0;
    log.loadingOlder = false;
  }
  for (const [id, request] of state.requests)
    if (request.key === key) state.requests.delete(id);
  if (state.channels.has(key))
    state.cursors.set(key, Math.max(state.cursors.get(key) ?? 0, after, 0));
  if (key === state.open) {
    requestHistory(key, "initial");
    renderPane();
  }
}

function onChatMessage(frame) {
  const key = keyOf(frame.server, frame.channel);
  // A message ends its author's typing indicator, even a duplicate.
  stopTyping(key, frame.author_id, frame.author);
  if (learnAuthor(frame)) renderPeople();
  const entry = ingest(key, frame);
  if (!entry) return;
  advanceCursor(key);
  const channel = state.channels.get(key);
  if (channel) {
    // A seq at or below the head is already in the count (ready's or an
    // earlier message's): every message counts once.
    const seq = entry.seq;
    if (
      seq > channel.headSeq &&
      seq > channel.lastRead &&
      !isMine(frame) &&
      mentionsMe(frame.message, frame.mentions_everyone)
    )
      channel.mentions += 1;
    // A tombstone (a message deleted before a gap fill read it) is no
    // unread message.
    if (seq > channel.headSeq && frame.deleted) channel.skipSeqs.add(seq);
    channel.headSeq = Math.max(channel.headSeq, seq);
    renderBadge(channel);
  }
  if (key === state.open) {
    renderPane({ stickToBottom: true });
    markViewed(key);
  }
}

// An edit or a delete: an event of the channel's log with its own seq. It
// changes the message it names, if we hold it (history has the latest state
// of the others), and is no unread message.
function onRevision(frame) {
  const key = keyOf(frame.server, frame.channel);
  const seq = toInt(frame.seq);
  if (!Number.isSafeInteger(seq) || seq <= 0) return;
  const log = logFor(key);
  if (log.events.has(seq)) return; // A repeat.
  log.events.add(seq);
  log.newest = Math.max(log.newest, seq);
  advanceCursor(key);
  const target = log.bySeq.get(toInt(frame.message_seq));
  const channel = state.channels.get(key);
  // Only an event above the head is new to the counts: the server counted
  // what lies below it (ready, read_state).
  if (channel && seq > channel.headSeq) {
    channel.skipSeqs.add(seq);
    const messageSeq = toInt(frame.message_seq);
    // A deleted unread message is no longer unread, nor a mention.
    if (frame.type === "message_delete" && messageSeq > channel.lastRead)
      channel.skipSeqs.add(messageSeq);
    if (target && messageSeq > channel.lastRead && !isMineEntry(target)) {
      const before =
        !target.deleted && mentionsMe(target.message, target.everyone);
      const after =
        frame.type === "message_update" &&
        mentionsMe(frame.message, target.everyone);
      channel.mentions = Math.max(0, channel.mentions + after - before);
    }
    channel.headSeq = seq;
    renderBadge(channel);
  }
  if (target) {
    if (frame.type === "message_update") {
      target.message = frame.message ?? "";
      target.editedAt = toInt(frame.edited_at);
    } else {
      target.message = "";
      target.deleted = true;
    }
  }
  if (key === state.open) {
    renderPane({ stickToBottom: true });
    markViewed(key);
  }
}

function onAck(frame) {
  const moderated = state.moderation.get(frame.id);
  if (moderated) {
    state.moderation.delete(frame.id);
    moderated();
    return;
  }
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
      putEntry(log, entry);
    }
  }
  advanceCursor(key);
  const channel = state.channels.get(key);
  if (channel) {
    channel.headSeq = Math.max(channel.headSeq, seq);
    renderBadge(channel);
  }
  if (key === state.open) {
    renderPane({ stickToBottom: true });
    markViewed(key);
  }
}

function onHistory(frame) {
  const request = state.requests.get(frame.id);
  if (!request) return;
  state.requests.delete(frame.id);
  const { key, kind } = request;
  const log = logFor(key);
  const messages = frame.messages ?? [];
  let learned = false;
  for (const message of messages) {
    ingest(key, message);
    learned = learnAuthor(message) || learned;
  }
  if (learned) renderPeople();
  advanceCursor(key);
  const channel = state.channels.get(key);
  if (channel) {
    channel.headSeq = Math.max(
      channel.headSeq,
      toInt(frame.head_seq),
      newestSeq(log),
    );
    renderBadge(channel);
  }

  log.loaded = true;
  // The server says where the next older page starts: a page can be short,
  // even empty, with more beyond it (it skips edit and delete events).
  const next = toInt(frame.next);
  if (
    kind === "initial" ||
    next === 0 ||
    log.olderFrom === 0 ||
    next < log.olderFrom
  )
    log.olderFrom = next;
  log.hasOlder = log.olderFrom > 0;
  log.loadingOlder = false;
  if (key === state.open) {
    renderPane({
      keepOffset: kind === "older",
      stickToBottom: kind !== "older",
    });
    markViewed(key);
  }
}

function onError(frame) {
  if (frame.id?.startsWith("read-")) return; // A marker lost: the next view resends it.
  if (frame.id && state.moderation.delete(frame.id)) renderSlowMode();
  const invitationRequest = frame.id
    ? state.invitationRequests.get(frame.id)
    : null;
  if (invitationRequest) {
    state.invitationRequests.delete(frame.id);
    onInvitationError(frame, invitationRequest);
    return;
  }
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
      events: new Set(), // seqs of edit and delete events held (no rows)
      newest: 0, // the highest seq held, message or event
      hasOlder: false,
      olderFrom: 0, // where the next older page starts (the server's next)
      loadingOlder: false,
    };
    state.logs.set(key, log);
  }
  return log;
}

function newestSeq(log) {
  return log.newest;
}

function putEntry(log, entry) {
  log.bySeq.set(entry.seq, entry);
  log.newest = Math.max(log.newest, entry.seq);
}

// Moves a channel's resume cursor over the messages now held right after it.
function advanceCursor(key) {
  const log = state.logs.get(key);
  if (!log || !state.cursors.has(key)) return;
  let seq = state.cursors.get(key);
  while (log.bySeq.has(seq + 1) || log.events.has(seq + 1)) seq += 1;
  state.cursors.set(key, seq);
  // An event far below the cursor cannot come again (the server replays
  // from the cursor): the repeat check keeps the last EVENTS_KEPT seqs.
  if (log.events.size > EVENTS_KEPT)
    for (const s of log.events)
      if (s <= seq - EVENTS_KEPT) log.events.delete(s);
}

function oldestSeq(log) {
  let min = 0;
  for (const seq of log.bySeq.keys()) if (min === 0 || seq < min) min = seq;
  return min;
}

function isMineEntry(entry) {
  return Boolean(state.user) && entry.authorId === state.user.id;
}

function isMine(message) {
  if (!state.user) return false;
  return message.author_id
    ? message.author_id === state.user.id
    : message.author === state.user.name;
}

// A message mentions a user when its text holds "<@user_id>", or when it
// pings everyone (the server decided: mentions_everyone).
function mentionsMe(text, everyone = false) {
  const id = state.user?.id;
  if (!id) return false;
  return Boolean(everyone) || String(text ?? "").includes(`<@${id}>`);
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
      editedAt: toInt(message.edited_at),
      deleted: Boolean(message.deleted),
      everyone: Boolean(message.mentions_everyone), // an @everyone ping
      authorId: message.author_id ?? "",
      key,
      state: "sent",
      error: "",
      timer: 0,
      row: null,
    };
  }
  putEntry(log, entry);
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

function openChannel(key) {
  const channel = state.channels.get(key);
  if (!channel) return;
  const switched = state.open !== key;
  state.open = key;
  sessionStorage.setItem(OPEN_KEY, key);
  for (const ch of state.channels.values()) {
    ch.button?.classList.toggle("active", ch === channel);
    if (ch.button)
      ch.button.setAttribute("aria-current", ch === channel ? "true" : "false");
  }
  renderTyping();
  ui.title.textContent = `# ${channel.name}`;
  renderSlowMode();
  ui.input.disabled = false;
  ui.send.disabled = false;
  ui.input.placeholder = `Message #${channel.name}`;

  // A loaded log is kept complete: by live events while connected and by the
  // resume replay after a reconnect.
  const log = logFor(key);
  if (
    !log.loaded &&
    ![...state.requests.values()].some(
      (r) => r.key === key && r.kind === "initial",
    )
  ) {
    requestHistory(key, "initial");
  }
  renderPane({ stickToBottom: switched, forceBottom: switched });
  markViewed(key);
  if (switched) ui.input.focus();
}

// The pane with no channel (the last one's server was taken away).
function closePane() {
  ui.title.textContent = "Pick a channel";
  ui.input.disabled = true;
  ui.send.disabled = true;
  ui.input.placeholder = "Pick a channel to chat";
  renderSlowMode();
  renderPane();
}

// Owners and moderators of a server may moderate it (see ready's role).
function moderates(serverId) {
  const role = state.servers.find((s) => s.id === serverId)?.role;
  return role === "owner" || role === "moderator";
}

// The header's slow mode: a picker for moderators, a note for members.
function renderSlowMode() {
  const channel = state.open ? state.channels.get(state.open) : null;
  const mod = Boolean(channel) && moderates(channel.server);
  const seconds = channel?.slowMode ?? 0;
  ui.slowModeSelect.hidden = !mod;
  if (mod) {
    const value = String(seconds);
    if (![...ui.slowModeSelect.options].some((o) => o.value === value)) {
      ui.slowModeSelect.add(new Option(`Slow mode ${seconds} s`, value));
    }
    ui.slowModeSelect.value = value;
  }
  ui.slowModeNote.hidden = mod || !(seconds > 0);
  ui.slowModeNote.textContent =
    seconds > 0 ? `Slow mode: one message every ${formatSeconds(seconds)}` : "";
}

function formatSeconds(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

// Sends a moderation frame; the ack or error is matched by id.
function sendModeration(frame, done) {
  const id = `mod-${state.nextRequest++}`;
  if (!state.socket?.send({ ...frame, id })) {
    toast("Not connected: try again in a moment");
    return;
  }
  state.moderation.set(id, done);
}

function setSlowMode(seconds) {
  const channel = state.open ? state.channels.get(state.open) : null;
  if (!channel) return;
  sendModeration(
    {
      type: "set_slow_mode",
      server: channel.server,
      channel: channel.id,
      seconds,
    },
    () => {
      channel.slowMode = seconds;
      renderSlowMode();
      toast(
        seconds > 0
          ? `Slow mode on: one message every ${formatSeconds(seconds)}`
          : "Slow mode off",
        "info",
      );
    },
  );
}

// Remove or ban a message's author (a first click asks, a second acts).
function askModerate(entry, type) {
  const channel = state.channels.get(entry.key);
  if (!channel || !entry.authorId) return;
  if (entry.confirmModerate !== type) {
    entry.confirmModerate = type;
    setTimeout(() => {
      if (entry.confirmModerate === type) entry.confirmModerate = null;
      renderPane();
    }, DELETE_CONFIRM_MS);
    renderPane();
    return;
  }
  entry.confirmModerate = null;
  renderPane();
  const name = entry.author;
  sendModeration(
    { type, server: channel.server, user_id: entry.authorId },
    () =>
      toast(
        `${name} was ${type === "ban_member" ? "banned" : "removed"}`,
        "info",
      ),
  );
}

function requestHistory(key, kind) {
  const channel = state.channels.get(key);
  if (!channel || !state.socket?.ready) return;
  const log = logFor(key);
  const limit = PAGE_SIZE;
  const id = `h${state.nextRequest++}`;
  const frame = {
    type: "history",
    server: channel.server,
    channel: channel.id,
    limit,
    id,
  };
  if (kind === "older") {
    const held = oldestSeq(log);
    frame.before =
      log.olderFrom > 0 && (held === 0 || log.olderFrom < held)
        ? log.olderFrom
        : held;
  }
  if (state.socket.send(frame)) {
    state.requests.set(id, { key, kind });
    if (kind === "older") log.loadingOlder = true;
  }
}

// The user sees the open channel's newest messages while the tab is visible:
// its read marker moves there, on screen at once and on the server shortly
// (every tab of the user then gets read_state).
function markViewed(key) {
  if (key !== state.open || document.visibilityState !== "visible") return;
  const channel = state.channels.get(key);
  const log = state.logs.get(key);
  if (!channel || !log?.loaded) return;
  const seq = newestSeq(log);
  if (seq > channel.lastRead) {
    channel.lastRead = seq;
    if (seq >= channel.headSeq) {
      channel.mentions = 0;
      channel.skipBase = { upTo: seq, count: 0 };
      channel.skipSeqs.clear();
    }
    renderBadge(channel);
  }
  if (channel.lastRead > channel.readSent && !state.readTimer)
    state.readTimer = setTimeout(sendReads, READ_SEND_INTERVAL_MS);
}

// Sends one "read" per channel whose marker moved since the last one.
function sendReads() {
  state.readTimer = 0;
  for (const channel of state.channels.values()) {
    if (channel.lastRead <= channel.readSent) continue;
    const sent = state.socket?.send({
      type: "read",
      server: channel.server,
      channel: channel.id,
      seq: String(channel.lastRead),
      id: `read-${state.nextRequest++}`,
    });
    if (sent) channel.readSent = channel.lastRead;
  }
}

document.addEventListener("visibilitychange", () => {
  if (state.open) markViewed(state.open);
});

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
    authorId: state.user?.id ?? "",
    key,
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

// Tells the channel we are typing, at most once per TYPING_SEND_INTERVAL_MS.
ui.input.addEventListener("input", () => {
  const key = state.open;
  const channel = key ? state.channels.get(key) : null;
  if (!channel || ui.input.value.trim() === "") return;
  const now = Date.now();
  if (now - (state.typingSent.get(key) ?? 0) < TYPING_SEND_INTERVAL_MS) return;
  const sent = state.socket?.send({
    type: "typing",
    server: channel.server,
    channel: channel.id,
  });
  if (sent) state.typingSent.set(key, now);
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
    const title = document.createElement("span");
    title.className = "server-name";
    title.textContent = server.name;
    const serverBadge = document.createElement("span");
    serverBadge.className = "badge";
    serverBadge.dataset.testid = `server-unread-${server.id}`;
    heading.append(title, serverBadge);
    server.badge = serverBadge;
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
    renderServerBadge(server);
    return section;
  });
  ui.serverList.replaceChildren(...sections);
}

// What the server counts as unread: head_seq - last_read_seq. Each message
// counts once, however many times (live, replayed, in history) it arrives.
function unreadOf(channel) {
  return Math.max(0, channel.headSeq - channel.lastRead - skipOf(channel));
}

// The seqs after the marker that are no unread message: the server's count
// (while the marker is below the head it was counted to) and those learned
// since.
function skipOf(channel) {
  let count =
    channel.lastRead < channel.skipBase.upTo ? channel.skipBase.count : 0;
  for (const seq of channel.skipSeqs) if (seq > channel.lastRead) count += 1;
  return count;
}

function renderBadge(channel) {
  if (!channel.badge) return;
  const unread = unreadOf(channel);
  paintBadge(channel.badge, unread, unread > 0 ? channel.mentions : 0);
  channel.button.classList.toggle("unread", unread > 0);
  renderServerBadge(state.servers.find((s) => s.id === channel.server));
}

// A server's badge: the sum over its channels.
function renderServerBadge(server) {
  if (!server?.badge) return;
  let unread = 0;
  let mentions = 0;
  for (const channel of server.channels) {
    const count = unreadOf(channel);
    unread += count;
    if (count > 0) mentions += channel.mentions;
  }
  paintBadge(server.badge, unread, mentions);
}

function paintBadge(badge, unread, mentions) {
  badge.textContent = String(unread);
  badge.dataset.count = String(unread);
  badge.dataset.mentions = String(mentions);
  badge.title =
    mentions > 0
      ? `${unread} unread, ${mentions} mentioning you`
      : `${unread} unread`;
  badge.hidden = unread <= 0;
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
    const edited = document.createElement("span");
    edited.className = "edited";
    edited.dataset.testid = "message-edited";
    edited.textContent = "(edited)";
    meta.append(edited);
    // Edit and delete, on one's own sent messages; delete, remove and ban
    // on others' for the server's owner and moderators.
    const actions = document.createElement("span");
    actions.className = "actions";
    const editButton = document.createElement("button");
    editButton.type = "button";
    editButton.className = "link-button";
    editButton.dataset.testid = "message-edit";
    editButton.textContent = "Edit";
    editButton.addEventListener("click", () => startEdit(entry));
    const deleteButton = document.createElement("button");
    deleteButton.type = "button";
    deleteButton.className = "link-button";
    deleteButton.dataset.testid = "message-delete";
    deleteButton.addEventListener("click", () => askDelete(entry));
    const removeButton = document.createElement("button");
    removeButton.type = "button";
    removeButton.className = "link-button";
    removeButton.dataset.testid = "message-remove-author";
    removeButton.addEventListener("click", () =>
      askModerate(entry, "remove_member"),
    );
    const banButton = document.createElement("button");
    banButton.type = "button";
    banButton.className = "link-button";
    banButton.dataset.testid = "message-ban-author";
    banButton.addEventListener("click", () => askModerate(entry, "ban_member"));
    actions.append(editButton, deleteButton, removeButton, banButton);
    meta.append(actions);
    const editor = document.createElement("textarea");
    editor.className = "editor";
    editor.rows = 2;
    editor.dataset.testid = "message-edit-input";
    editor.setAttribute("aria-label", "Edit message");
    editor.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        finishEdit(entry, editor.value);
      } else if (event.key === "Escape") {
        entry.editing = false;
        renderPane();
      }
    });
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
    body.append(meta, text, editor, status);
    row.append(avatar, body);
    entry.row = row;
    entry.parts = {
      time,
      status,
      error,
      text,
      edited,
      actions,
      editor,
      editButton,
      deleteButton,
      removeButton,
      banButton,
    };
  }
  const { row } = entry;
  if (entry.seq !== null) row.dataset.seq = String(entry.seq);
  else delete row.dataset.seq;
  row.dataset.state = entry.state;
  const when = new Date(entry.sentAt || Date.now());
  entry.parts.time.dateTime = when.toISOString();
  entry.parts.time.textContent = formatTime(when);
  // Never innerHTML: message text is untrusted.
  entry.parts.text.textContent = entry.deleted
    ? "This message was deleted."
    : entry.message;
  row.classList.toggle("deleted", Boolean(entry.deleted));
  entry.parts.edited.hidden = !entry.editedAt || Boolean(entry.deleted);
  if (entry.editedAt)
    entry.parts.edited.title = `Edited ${dateTimeFormat.format(new Date(entry.editedAt))}`;
  const mine = isMineEntry(entry);
  const mod = moderates(state.channels.get(entry.key)?.server);
  entry.parts.actions.hidden =
    !(mine || mod) || entry.state !== "sent" || Boolean(entry.deleted);
  entry.parts.editButton.hidden = !mine;
  entry.parts.removeButton.hidden = mine || !mod || !entry.authorId;
  entry.parts.banButton.hidden = mine || !mod || !entry.authorId;
  entry.parts.removeButton.textContent =
    entry.confirmModerate === "remove_member" ? "Confirm remove" : "Remove";
  entry.parts.banButton.textContent =
    entry.confirmModerate === "ban_member" ? "Confirm ban" : "Ban";
  if (entry.deleted) entry.editing = false;
  entry.parts.text.hidden = Boolean(entry.editing);
  entry.parts.editor.hidden = !entry.editing;
  entry.parts.deleteButton.textContent = entry.confirmDelete
    ? "Confirm delete"
    : "Delete";
  entry.parts.status.hidden = entry.state !== "failed";
  entry.parts.error.textContent = entry.error || "Not delivered";
  return row;
}

function startEdit(entry) {
  entry.editing = true;
  renderPane();
  const { editor } = entry.parts;
  editor.value = entry.message;
  editor.focus();
}

function finishEdit(entry, text) {
  entry.editing = false;
  if (text.trim() !== "" && text !== entry.message)
    sendRevision(entry, { type: "edit_message", message: text });
  renderPane();
}

// The first click asks, a second one within a few seconds deletes.
function askDelete(entry) {
  if (!entry.confirmDelete) {
    entry.confirmDelete = true;
    setTimeout(() => {
      entry.confirmDelete = false;
      renderPane();
    }, DELETE_CONFIRM_MS);
  } else {
    entry.confirmDelete = false;
    sendRevision(entry, { type: "delete_message" });
  }
  renderPane();
}

// Sends an edit_message or delete_message for a stored message. The result
// comes back as the message_update or message_delete event; refusals as an
// error toast.
function sendRevision(entry, frame) {
  const channel = state.channels.get(entry.key);
  if (!channel || entry.seq === null) return;
  const sent = state.socket?.send({
    ...frame,
    server: channel.server,
    channel: channel.id,
    seq: String(entry.seq),
    id: `rev-${state.nextRequest++}`,
  });
  if (!sent) toast("Not connected: try again in a moment");
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

// kind "error" (the default) or "info".
function toast(text, kind = "error") {
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.dataset.testid = "toast";
  item.dataset.kind = kind;
  item.textContent = text;
  ui.toasts.append(item);
  setTimeout(() => item.remove(), TOAST_MS);
}

// ---- typing -----------------------------------------------------------------

function onTyping(frame) {
  const userId = frame.user_id;
  if (!userId || userId === state.user?.id) return;
  const key = keyOf(frame.server, frame.channel);
  if (remember(userId, frame.user_name)) renderPeople();
  let typers = state.typing.get(key);
  if (!typers) {
    typers = new Map();
    state.typing.set(key, typers);
  }
  clearTimeout(typers.get(userId)?.timer);
  const ms =
    toInt(frame.expires_in_ms) > 0
      ? toInt(frame.expires_in_ms)
      : TYPING_SHOW_MS;
  typers.set(userId, {
    name: frame.user_name || nameOf(userId),
    timer: setTimeout(() => stopTyping(key, userId), ms),
  });
  if (key === state.open) renderTyping();
}

// Ends someone's typing in a channel: by user id, or by display name for
// messages that carry no author_id.
function stopTyping(key, userId, name) {
  const typers = state.typing.get(key);
  if (!typers) return;
  let id = userId;
  if (!id && name)
    id = [...typers].find(([, typer]) => typer.name === name)?.[0];
  const typer = id ? typers.get(id) : undefined;
  if (!typer) return;
  clearTimeout(typer.timer);
  typers.delete(id);
  if (typers.size === 0) state.typing.delete(key);
  if (key === state.open) renderTyping();
}

function renderTyping() {
  const typers = state.open ? state.typing.get(state.open) : undefined;
  const entries = typers ? [...typers] : [];
  const names = entries.map(([, typer]) => typer.name).sort(byText);
  ui.typing.hidden = names.length === 0;
  ui.typing.dataset.users = entries.map(([id]) => id).join(" ");
  ui.typing.textContent =
    names.length === 0
      ? ""
      : names.length === 1
        ? `${names[0]} is typing…`
        : names.length === 2
          ? `${names[0]} and ${names[1]} are typing…`
          : names.length === 3
            ? `${names[0]}, ${names[1]} and ${names[2]} are typing…`
            : "Several people are typing…";
}

// ---- status -----------------------------------------------------------------

ui.slowModeSelect.addEventListener("change", () => {
  const seconds = Number(ui.slowModeSelect.value);
  if (Number.isInteger(seconds) && seconds >= 0) setSlowMode(seconds);
});

ui.statusSelect.addEventListener("change", () => {
  const status = ui.statusSelect.value;
  if (!STATUSES.includes(status) || status === state.status) return;
  state.status = status;
  sessionStorage.setItem(STATUS_KEY, status);
  if (state.socket) {
    state.socket.status = status; // Carried by the next identify too.
    state.socket.send({ type: "status", status });
  }
  renderMe();
  renderPeople();
});

function renderMe() {
  ui.statusSelect.value = state.status;
  const { status } = presenceOf(state.user?.id);
  ui.meDot.dataset.status = status;
  ui.meDot.title = STATUS_LABEL[status] ?? status;
}

// ---- people: who we know, friends, presence ---------------------------------

const STATUS_LABEL = {
  online: "Online",
  idle: "Idle",
  dnd: "Do not disturb",
  offline: "Offline",
  invisible: "Invisible",
  unknown: "Status unknown",
};
const STATUS_RANK = { online: 0, dnd: 1, idle: 2, offline: 3, unknown: 4 };
const ACTIVE = new Set(["online", "idle", "dnd"]);
const byText = (a, b) => a.localeCompare(b, undefined, { sensitivity: "base" });

// Records a user's name and image. Returns true when something changed.
function remember(id, name, image) {
  if (!id) return false;
  const known = state.directory.get(id);
  const next = {
    id,
    name: name || known?.name || id,
    image: image || known?.image || "",
  };
  if (known && known.name === next.name && known.image === next.image)
    return false;
  state.directory.set(id, next);
  if (state.friends.has(id)) state.friends.set(id, next);
  return true;
}

const nameOf = (id) => state.directory.get(id)?.name || id;

// Remembers a message's author as someone who shares a channel with us.
// Returns true when the people panel needs a redraw.
function learnAuthor(message) {
  const id = message.author_id;
  if (!id) return false;
  const changed = remember(id, message.author, message.image);
  if (state.authors.has(id)) return changed;
  state.authors.add(id);
  return true;
}

// Stores a presence event. Returns true when it changed anything (events
// arrive once per path, so repeats are common, and two service replicas'
// events can cross: one older than what we hold is ignored).
function applyPresence(frame) {
  const id = frame?.user_id;
  if (!id || !Object.hasOwn(STATUS_RANK, frame.status)) return false;
  const next = {
    status: frame.status,
    lastSeen: toInt(frame.last_seen),
    version: toInt(frame.version),
  };
  const known = state.presences.get(id);
  if (known && next.version < known.version) return false;
  if (known && known.status === next.status && known.lastSeen === next.lastSeen)
    return false;
  state.presences.set(id, next);
  return true;
}

// What the page shows for a user. For ourselves, before the server has told
// us our aggregate, this tab's choice (invisible looks offline to others).
function presenceOf(id) {
  const known = id ? state.presences.get(id) : undefined;
  if (known) return known;
  if (id && id === state.user?.id)
    return {
      status: state.status === "invisible" ? "offline" : state.status,
      lastSeen: 0,
    };
  return { status: "unknown", lastSeen: 0 };
}

function renderPeople() {
  const me = state.user?.id;
  const rank = (id) => STATUS_RANK[presenceOf(id).status] ?? 9;
  const byPresence = (a, b) =>
    rank(a) - rank(b) || byText(nameOf(a), nameOf(b));

  const friends = [...state.friends.keys()].sort(byPresence);
  ui.friendsHeading.textContent = `Friends — ${friends.length}`;
  if (friends.length === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No friends yet. Invite someone by their user id.";
    ui.friendList.replaceChildren(empty);
  } else {
    ui.friendList.replaceChildren(
      ...friends.map((id) => personRow(id, `friend-${id}`)),
    );
  }

  // Members: everyone whose presence we may see (friends and fellow members),
  // plus authors seen in our channels, plus ourselves.
  const ids = new Set([
    ...state.presences.keys(),
    ...state.authors,
    ...friends,
  ]);
  if (me) ids.add(me);
  const active = [];
  const inactive = [];
  for (const id of ids)
    (ACTIVE.has(presenceOf(id).status) ? active : inactive).push(id);
  active.sort(byPresence);
  inactive.sort(
    (a, b) =>
      Number(state.friends.has(b)) - Number(state.friends.has(a)) ||
      presenceOf(b).lastSeen - presenceOf(a).lastSeen ||
      byText(nameOf(a), nameOf(b)),
  );
  const items = [groupTitle(`Online — ${active.length}`)];
  for (const id of active) items.push(personRow(id, `presence-${id}`));
  items.push(groupTitle(`Offline — ${inactive.length}`));
  for (const id of inactive.slice(0, OFFLINE_SHOWN))
    items.push(personRow(id, `presence-${id}`));
  if (inactive.length > OFFLINE_SHOWN) {
    const more = document.createElement("li");
    more.className = "empty";
    more.textContent = `and ${inactive.length - OFFLINE_SHOWN} more`;
    items.push(more);
  }
  ui.memberList.replaceChildren(...items);
}

function groupTitle(text) {
  const item = document.createElement("li");
  item.className = "group-title";
  item.textContent = text;
  return item;
}

function personRow(id, testid) {
  const user = state.directory.get(id) ?? { id, name: id, image: "" };
  const { status, lastSeen } = presenceOf(id);
  const row = document.createElement("li");
  row.className = "person";
  row.dataset.testid = testid;
  row.dataset.user = id;
  row.dataset.status = status;
  row.title = `${user.name} (${id})`;
  const name = document.createElement("span");
  name.className = "person-name";
  name.textContent = user.name;
  if (id === state.user?.id) {
    const you = document.createElement("span");
    you.className = "you";
    you.textContent = " (you)";
    name.append(you);
  }
  const sub = document.createElement("span");
  sub.className = "person-sub";
  sub.textContent =
    status === "offline" && lastSeen > 0
      ? `Last seen ${formatTime(new Date(lastSeen))}`
      : (STATUS_LABEL[status] ?? status);
  const info = document.createElement("span");
  info.className = "person-info";
  info.append(name, sub);
  row.append(avatarWithDot(user.name, status), info);
  return row;
}

function avatarWithDot(name, status) {
  const wrap = document.createElement("span");
  wrap.className = "avatar-wrap";
  const avatar = document.createElement("span");
  avatar.className = "avatar";
  avatar.setAttribute("aria-hidden", "true");
  paintAvatar(avatar, name);
  wrap.append(avatar);
  if (status) {
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.dataset.status = status;
    dot.title = STATUS_LABEL[status] ?? status;
    wrap.append(dot);
  }
  return wrap;
}

// ---- invitations ------------------------------------------------------------

function renderInviteServers() {
  const selected = ui.inviteServer.value;
  const options = [new Option("as a friend", "")];
  for (const server of state.servers)
    options.push(new Option(`to ${server.name}`, server.id));
  ui.inviteServer.replaceChildren(...options);
  ui.inviteServer.value = state.servers.some((s) => s.id === selected)
    ? selected
    : "";
}

ui.inviteForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const invited = ui.inviteInput.value.trim();
  if (!invited) return;
  if (!USER_ID.test(invited)) {
    toast("A user id is 1 to 64 letters, digits, “-” or “_”.");
    return;
  }
  if (courtesyBlocked("invite", invited, `inviting ${invited} again`)) return;
  const server = ui.inviteServer.value;
  sendInvitationFrame(
    "invitation",
    { invited, server },
    { action: "invite", other: invited },
  );
});

function acceptInvitation(inv) {
  const fields = { inviting: inv.inviting };
  if (inv.server) fields.server = inv.server;
  // No delay for accepting, as in the seed: repeating it changes nothing.
  if (
    sendInvitationFrame("accept_invitation", fields, {
      action: "accept",
      other: inv.inviting,
      invitation: inv.id,
    })
  ) {
    state.busy.add(inv.id);
    renderInvitations();
  }
}

// Cancels one we sent, or declines one we received (one frame, as in the seed).
function cancelInvitation(inv) {
  const incoming = inv.invited === state.user?.id;
  const other = incoming ? inv.inviting : inv.invited;
  const what = incoming ? "declining" : "cancelling";
  if (courtesyBlocked("cancel", other, `${what} again`)) return;
  const fields = incoming ? { inviting: other } : { invited: other };
  if (inv.server) fields.server = inv.server;
  if (
    sendInvitationFrame("cancel_invitation", fields, {
      action: incoming ? "decline" : "cancel",
      other,
      invitation: inv.id,
    })
  ) {
    state.busy.add(inv.id);
    renderInvitations();
  }
}

// The seed's courtesy delay: one invite, and one cancel or decline, per other
// user every INVITE_DELAY_MS, remembered in localStorage across tabs. Returns
// true (and says so) when the action must wait; otherwise starts the window.
function courtesyBlocked(action, other, doing) {
  const key = `${action}_delay_${other}`;
  const now = Date.now();
  let last = NaN;
  try {
    last = Number(localStorage.getItem(key) ?? NaN);
  } catch {
    // Storage may be unavailable (privacy modes): the server still limits.
  }
  const left = INVITE_DELAY_MS - (now - last);
  if (Number.isFinite(last) && left > 0 && left <= INVITE_DELAY_MS) {
    toast(`Please wait a moment before ${doing}.`, "info");
    return true;
  }
  try {
    localStorage.setItem(key, String(now));
  } catch {
    // As above.
  }
  return false;
}

// Sends an invitation frame with a request id that an error would echo.
function sendInvitationFrame(type, fields, context) {
  const id = `i${state.nextRequest++}`;
  if (!state.socket?.send({ type, ...fields, id })) {
    toast("Not connected. Try again in a moment.");
    return false;
  }
  // Success has no reply: forget requests once an error can no longer come.
  const now = Date.now();
  for (const [old, request] of state.invitationRequests)
    if (now - request.at > 60_000) state.invitationRequests.delete(old);
  state.invitationRequests.set(id, { ...context, at: now });
  return true;
}

const INVITATION_ERRORS = {
  cannot_invite_self: () => "You cannot invite yourself.",
  unknown_user: (r) => `There is no user with the id “${r.other}”.`,
  already_friends: (r) => `You and ${nameOf(r.other)} are already friends.`,
  already_member: (r) =>
    `${nameOf(r.other)} is already a member of that server.`,
  not_member: () => "You can only invite people into servers you belong to.",
  already_pending: (r) =>
    `An invitation between you and ${nameOf(r.other)} is already pending.`,
  not_found: () => "That invitation no longer exists.",
  not_invitee: () => "Only the invited person can accept an invitation.",
  already_accepted: () => "That invitation was already accepted.",
  already_cancelled: () => "That invitation was already cancelled.",
  already_declined: () => "That invitation was already declined.",
  already_expired: () => "That invitation has expired.",
  unavailable: () => "That did not go through. Please try again.",
};
const DECIDED = new Set([
  "not_found",
  "already_accepted",
  "already_cancelled",
  "already_declined",
  "already_expired",
]);

function onInvitationError(frame, request) {
  if (request.invitation) {
    state.busy.delete(request.invitation);
    // The invitation is decided or gone: stop offering buttons for it.
    if (DECIDED.has(frame.code)) state.invitations.delete(request.invitation);
    renderInvitations();
  }
  let text =
    INVITATION_ERRORS[frame.code]?.(request) ||
    frame.message ||
    frame.code ||
    "Something went wrong";
  const retry = toInt(frame.retry_after_ms);
  if (frame.code === "rate_limited")
    text = `Slow down: try again in ${Math.max(1, Math.ceil(retry / 1000))} s.`;
  toast(text);
}

// Every invitation change reaches both parties on every session.
function onInvitationEvent(inv) {
  const me = state.user?.id;
  if (!inv.id || !me) return;
  remember(inv.inviting, inv.inviting_name, inv.inviting_img);
  remember(inv.invited, inv.invited_name, inv.invited_img);
  const outgoing = inv.inviting === me;
  const other = outgoing ? inv.invited : inv.inviting;
  const who = nameOf(other);
  const where = inv.server_name || inv.server;
  state.busy.delete(inv.id);

  if (inv.type === "invitation") {
    if (inv.state !== "pending") return;
    state.invitations.set(inv.id, inv);
    if (outgoing) {
      if (ui.inviteInput.value.trim() === inv.invited)
        ui.inviteInput.value = "";
    } else {
      toast(
        inv.server
          ? `${who} invited you to ${where}`
          : `${who} wants to be your friend`,
        "info",
      );
    }
  } else {
    state.invitations.delete(inv.id);
    if (inv.type === "accept_invitation") {
      if (!inv.server) state.friends.set(other, state.directory.get(other));
      if (outgoing) toast(`${who} accepted your invitation`, "info");
      else if (inv.server) toast(`You joined ${where}`, "info");
      else toast(`You and ${who} are now friends`, "info");
    } else if (inv.type === "cancel_invitation") {
      if (outgoing && inv.state === "declined")
        toast(`${who} declined your invitation`, "info");
      else if (!outgoing && inv.state === "cancelled")
        toast(`${who} cancelled their invitation`, "info");
    } else if (inv.type === "invitation_expired") {
      toast(
        `The invitation ${outgoing ? "to" : "from"} ${who} expired`,
        "info",
      );
    }
  }
  renderInvitations();
  renderPeople();
}

function renderInvitations() {
  const me = state.user?.id;
  const incoming = (inv) => inv.invited === me;
  const pending = [...state.invitations.values()].sort(
    (a, b) =>
      Number(incoming(b)) - Number(incoming(a)) ||
      toInt(a.created_at) - toInt(b.created_at),
  );
  ui.invitationsHeading.hidden = pending.length === 0;
  ui.invitationsHeading.textContent = `Pending — ${pending.length}`;
  ui.invitationList.replaceChildren(
    ...pending.map((inv) => invitationRow(inv, incoming(inv))),
  );
}

function invitationRow(inv, incoming) {
  const other = incoming ? inv.inviting : inv.invited;
  const where = inv.server_name || inv.server;
  const row = document.createElement("li");
  row.className = "person invitation";
  row.dataset.testid = `invitation-${inv.id}`;
  row.dataset.invitationId = inv.id;
  row.dataset.direction = incoming ? "incoming" : "outgoing";
  row.dataset.inviting = inv.inviting;
  row.dataset.invited = inv.invited;
  row.dataset.server = inv.server ?? "";
  row.title = `${nameOf(other)} (${other})`;
  const name = document.createElement("span");
  name.className = "person-name";
  name.textContent = nameOf(other);
  const sub = document.createElement("span");
  sub.className = "person-sub";
  sub.textContent = incoming
    ? inv.server
      ? `invites you to ${where}`
      : "wants to be your friend"
    : inv.server
      ? `invited to ${where}`
      : "friend request sent";
  const info = document.createElement("span");
  info.className = "person-info";
  info.append(name, sub);
  const actions = document.createElement("span");
  actions.className = "actions";
  const busy = state.busy.has(inv.id);
  if (incoming) {
    actions.append(
      actionButton(
        "Accept",
        `invitation-accept-${inv.id}`,
        "accept",
        busy,
        () => acceptInvitation(inv),
      ),
      actionButton(
        "Decline",
        `invitation-decline-${inv.id}`,
        "decline",
        busy,
        () => cancelInvitation(inv),
      ),
    );
  } else {
    actions.append(
      actionButton(
        "Cancel",
        `invitation-cancel-${inv.id}`,
        "decline",
        busy,
        () => cancelInvitation(inv),
      ),
    );
  }
  row.append(avatarWithDot(nameOf(other), null), info, actions);
  return row;
}

function actionButton(label, testid, kind, disabled, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `action ${kind}`;
  button.dataset.testid = testid;
  button.textContent = label;
  button.disabled = disabled;
  button.addEventListener("click", onClick);
  return button;
}

// ---- start ------------------------------------------------------------------

const savedToken = sessionStorage.getItem(TOKEN_KEY);
if (savedToken) startSession(savedToken, null);
else showLogin("");
