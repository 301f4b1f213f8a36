// Checks the multi-replica local topology (REPLICAS=2 deploy/local/launch):
// nginx in front of two gateways, two replicas of each service. Two users
// log in through nginx and connect their WebSockets through it until they
// sit on different gateways (seen in each gateway's /metrics); a message
// one of them sends must reach the other across the replicas, and be
// acknowledged. Prints one line per check and "topology checks: N passed,
// M failed"; exits 1 on any failure.
//   node check.mjs <nginx base URL> <gateway port> <gateway port> ...
import WebSocket from "ws";

const [base, ...gatewayPorts] = process.argv.slice(2);
if (!base || gatewayPorts.length < 2) {
  console.error("usage: node check.mjs <nginx base URL> <gateway port> <gateway port> ...");
  process.exit(2);
}
let passed = 0;
let failed = 0;
const check = (ok, what, detail = "") => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "PASS" : "FAIL"}  ${what}${ok || !detail ? "" : `: ${detail}`}`);
};

async function connections() {
  const counts = [];
  for (const port of gatewayPorts) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith("chat_gateway_connections "));
    counts.push(line ? Number(line.split(" ")[1]) : NaN);
  }
  return counts;
}

async function login(name) {
  const res = await fetch(`${base}/api/dev/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  const body = await res.json();
  if (!res.ok || !body.token) throw new Error(`login ${name}: HTTP ${res.status}`);
  return body.token;
}

// open connects through nginx and identifies; resolves with the socket and
// a queue of the frames that followed ready.
function open(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws`, { origin: base });
    const frames = [];
    const waiters = [];
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === "ready") return resolve({ ws, frames, waiters });
      frames.push(frame);
      for (const w of waiters.splice(0)) w();
    });
    ws.on("open", () => ws.send(JSON.stringify({ type: "identify", token })));
    ws.on("error", reject);
    setTimeout(() => reject(new Error("no ready within 5 s")), 5000);
  });
}

async function next(conn, pred, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = conn.frames.findIndex(pred);
    if (i >= 0) return conn.frames.splice(i, 1)[0];
    const left = deadline - Date.now();
    if (left <= 0) return null;
    await new Promise((r) => {
      conn.waiters.push(r);
      setTimeout(r, left);
    });
  }
}

// connectOn opens connections for token until one lands on a gateway that
// has no connection in `taken`; returns it and the gateway's index.
async function connectElsewhere(token, takenIndex) {
  for (let attempt = 0; attempt < 8; attempt++) {
    const before = await connections();
    const conn = await open(token);
    const after = await connections();
    const landed = after.findIndex((n, i) => n > before[i]);
    if (landed >= 0 && landed !== takenIndex) return { conn, landed };
    conn.ws.close();
    await new Promise((r) => setTimeout(r, 100));
  }
  return { conn: null, landed: -1 };
}

const stamp = Date.now().toString(36);
const alice = await login(`topo-a-${stamp}`);
const bob = await login(`topo-b-${stamp}`);
check(Boolean(alice && bob), "both users log in through nginx");
const a = await connectElsewhere(alice, -1);
check(a.conn !== null, "the first WebSocket through nginx reaches a gateway");
const b = await connectElsewhere(bob, a.landed);
check(b.conn !== null && b.landed !== a.landed, "the second WebSocket reaches the other gateway",
  `landed on ${b.landed}, the first on ${a.landed}`);
if (a.conn && b.conn) {
  const id = `topo-${stamp}`;
  a.conn.ws.send(JSON.stringify({
    type: "chat_message", server: "demo", channel: "general", message: "across replicas", id,
  }));
  const ack = await next(a.conn, (f) => f.type === "ack" && f.id === id);
  check(ack !== null, "the sender's message is acknowledged");
  const got = await next(b.conn, (f) => f.type === "chat_message" && f.id === id);
  check(got !== null && got.message === "across replicas" && ack && got.seq === ack.seq,
    "the message reaches the member on the other gateway, with the acknowledged seq");
  a.conn.ws.close();
  b.conn.ws.close();
}
console.log(`topology checks: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
