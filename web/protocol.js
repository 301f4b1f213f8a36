// The gateway socket: opens /ws, identifies with the login token, parses JSON
// frames, and reconnects with exponential backoff and jitter until stopped.
// Frame shapes are the proto3 JSON mapping of proto/client.proto.

// Close codes after which reconnecting with the same token is pointless.
export const CLOSE_INVALID_TOKEN = 4002;
export const CLOSE_TOKEN_EXPIRED = 4003;
const AUTH_CLOSE_CODES = new Set([CLOSE_INVALID_TOKEN, CLOSE_TOKEN_EXPIRED]);
const AUTH_ERROR_CODES = new Set(["invalid_token", "token_expired"]);

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15_000;

// Returns the /ws URL on the host that served this page.
export function gatewayUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws`;
}

// GatewaySocket keeps one live connection. `status` (online, idle, dnd or
// invisible) is sent with every identify, so a reconnect keeps the presence
// the user picked. Callbacks:
//   resume()            the "resume" cursors for the next identify, or null
//   onReady(frame)      every time a connection is identified ("ready" frame)
//   onFrame(frame)      every other frame, in arrival order
//   onDown(closeEvent)  the connection dropped; a reconnect is scheduled
//   onAuthLost(code)    the token was refused; the socket stops for good
//   watermarks()        what the client holds, {channels, user_seq}: sent as a
//                       "heartbeat" every heartbeat_interval_ms while identified,
//                       so the gateway can send again what it lacks
export class GatewaySocket {
  constructor({
    url,
    token,
    status,
    resume,
    onReady,
    onFrame,
    onDown,
    onAuthLost,
    watermarks,
  }) {
    this.url = url;
    this.token = token;
    this.status = status || "online";
    this.resume = resume;
    this.onReady = onReady;
    this.onFrame = onFrame;
    this.onDown = onDown;
    this.onAuthLost = onAuthLost;
    this.watermarks = watermarks;
    this.heartbeatTimer = 0;
    this.ws = null;
    this.identified = false;
    this.stopped = true;
    this.attempt = 0;
    this.retryTimer = 0;
  }

  // True when frames can be sent (the server has answered identify).
  get ready() {
    return this.identified && this.ws?.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeatTimer);
    const ws = this.ws;
    this.ws = null;
    this.identified = false;
    if (ws) ws.close(1000, "bye");
  }

  // Sends one frame; returns false (and drops it) when not identified.
  send(frame) {
    if (!this.ready) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  connect() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.identified = false;
    ws.onopen = () => {
      const identify = {
        type: "identify",
        token: this.token,
        status: this.status,
      };
      // A reconnect names what it has seen; the server replays the rest.
      const resume = this.resume?.();
      if (resume) identify.resume = resume;
      ws.send(JSON.stringify(identify));
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws || typeof event.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "ready") {
        this.identified = true;
        this.attempt = 0;
        this.onReady(frame);
        this.startHeartbeats(Number(frame.heartbeat_interval_ms) || 15000);
      } else if (
        frame.type === "error" &&
        !this.identified &&
        AUTH_ERROR_CODES.has(frame.code)
      ) {
        this.authLost(frame.code);
      } else {
        this.onFrame(frame);
      }
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return; // Superseded or stopped on purpose.
      this.ws = null;
      this.identified = false;
      clearInterval(this.heartbeatTimer);
      if (this.stopped) return;
      if (AUTH_CLOSE_CODES.has(event.code)) {
        this.authLost(event.code);
        return;
      }
      this.onDown(event);
      this.scheduleReconnect();
    };
  }

  startHeartbeats(intervalMs) {
    clearInterval(this.heartbeatTimer);
    if (!this.watermarks) return;
    this.heartbeatTimer = setInterval(() => {
      const held = this.watermarks();
      if (held) this.send({ type: "heartbeat", ...held });
    }, intervalMs);
  }

  authLost(code) {
    this.stop();
    this.onAuthLost(code);
  }

  // Full-range jitter over the upper half of the current backoff step, so a
  // gateway restart does not bring every client back in the same instant.
  scheduleReconnect() {
    const step = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    const delay = step / 2 + Math.random() * (step / 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.connect();
    }, delay);
  }
}
