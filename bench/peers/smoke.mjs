// Smoke test of a seed-compatible chat endpoint (a bench peer or our gateway).
//
//   node bench/peers/smoke.mjs <ws://host:port> [secret] [user-prefix]
//
// The secret defaults to $CHAT_JWT_SECRET; members are <user-prefix>-0..2
// (default "smoke"; for our gateway they must exist and belong to "demo").
// Connects 3 members to /ws/chat/demo/general/?token=..., sends 5 messages
// from the first, and checks that every member, the sender included, got all
// 5 exactly once in the seed's shape, with author and image from the token.
// Also checks that a token with a bad signature is closed with 4002.
// Prints one line; exits 0 on success, 1 on failure.
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(new URL('./node/package.json', import.meta.url));
const WebSocket = require('ws');

const [base, secret = process.env.CHAT_JWT_SECRET, prefix = 'smoke'] = process.argv.slice(2);
if (!base || !secret) {
  console.error('usage: node smoke.mjs <ws://host:port> [secret] [user-prefix]');
  process.exit(2);
}
const SERVER = 'demo';
const CHANNEL = 'general';
const MEMBERS = 3;
const MESSAGES = 5;
const SEED_KEYS = ['type', 'message', 'author', 'image', 'server', 'channel', 'id'];

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

// An HS256 token with the claims our gateway reads: sub, name, img, exp.
function mint(claims, key = secret) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function url(token) {
  return `${base.replace(/\/$/, '')}/ws/chat/${SERVER}/${CHANNEL}/?token=${encodeURIComponent(token)}`;
}

function fail(why) {
  console.log(`smoke FAILED against ${base}: ${why}`);
  process.exit(1);
}

const timer = setTimeout(() => fail('timed out'), 15000);

function open(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url(token));
    const frames = [];
    ws.on('message', (data) => frames.push(String(data)));
    ws.on('open', () => resolve({ ws, frames }));
    ws.on('error', reject);
    ws.on('close', (code) => {
      if (!ws.closingOnPurpose) frames.push({ closed: code });
    });
  });
}

function closeCodeOf(token) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url(token));
    ws.on('error', () => resolve('upgrade refused'));
    ws.on('close', (code) => resolve(code));
  });
}

const exp = Math.floor(Date.now() / 1000) + 3600;
const users = Array.from({ length: MEMBERS }, (_, i) => ({
  sub: `${prefix}-${i}`,
  name: `Smoke ${i}`,
  img: `https://img.example/${prefix}-${i}.png`,
  exp,
}));

let members;
try {
  members = await Promise.all(users.map((u) => open(mint(u))));
} catch (err) {
  fail(`connect: ${err.message}`);
}
// No ready frame on this endpoint: give authentication and the channel
// subscriptions a moment, as the load generator does.
await new Promise((r) => setTimeout(r, 1000));

const sender = users[0];
const sent = [];
const t0 = Date.now();
for (let i = 0; i < MESSAGES; i++) {
  const frame = {
    type: 'chat_message',
    message: `smoke message ${i}`,
    author: 'mallory', // Must be ignored: the author comes from the token.
    image: 'https://evil.example/x.png',
    server: SERVER,
    channel: CHANNEL,
    id: t0 + i, // The seed's Date.now() nonce.
  };
  sent.push(frame);
  members[0].ws.send(JSON.stringify(frame));
}

function check(frames) {
  const chats = [];
  for (const f of frames) {
    if (typeof f !== 'string') return `socket closed with ${f.closed}`;
    let m;
    try {
      m = JSON.parse(f);
    } catch {
      return `not JSON: ${f}`;
    }
    if (m.type === 'chat_message') chats.push({ raw: f, m });
  }
  if (chats.length < MESSAGES) return null; // Not yet.
  if (chats.length > MESSAGES) return `got ${chats.length} chat messages, want ${MESSAGES}`;
  for (let i = 0; i < MESSAGES; i++) {
    const { raw, m } = chats[i];
    const keys = Object.keys(m).join(',');
    if (keys !== SEED_KEYS.join(',')) return `keys ${keys}, want ${SEED_KEYS.join(',')}`;
    const want = {
      type: 'chat_message',
      message: sent[i].message,
      author: sender.name,
      image: sender.img,
      server: SERVER,
      channel: CHANNEL,
      id: sent[i].id,
    };
    for (const k of SEED_KEYS) {
      if (m[k] !== want[k]) return `message ${i}: ${k} is ${JSON.stringify(m[k])}, want ${JSON.stringify(want[k])} (${raw})`;
    }
  }
  return 'ok';
}

let verdicts;
for (;;) {
  verdicts = members.map((c) => check(c.frames));
  const bad = verdicts.find((v) => v !== null && v !== 'ok');
  if (bad) fail(bad);
  if (verdicts.every((v) => v === 'ok')) break;
  await new Promise((r) => setTimeout(r, 20));
}
const ms = Date.now() - t0;
for (const c of members) {
  c.ws.closingOnPurpose = true;
  c.ws.close();
}

const badCode = await closeCodeOf(mint(users[1], `${secret}-wrong`));
if (badCode !== 4002) fail(`a token with a bad signature gave ${badCode}, want close 4002`);

clearTimeout(timer);
console.log(
  `smoke ok against ${base}: ${MEMBERS} members got all ${MESSAGES} messages in the seed's shape in ${ms} ms; bad token closed with 4002`,
);
process.exit(0);
