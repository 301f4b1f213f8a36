'use strict';
// Benchmark peer: the seed's chat consumer as a Node.js team would write it.
//
//   ws://127.0.0.1:$PORT/ws/chat/<server>/<channel>/?token=<JWT>
//
// The token (HS256, secret $CHAT_JWT_SECRET) names the author: `name`, or
// `sub` when it has none, and `img` for the image. A client frame
// {"type":"chat_message","message":...,"id":...} is published on the
// channel's Redis pub/sub topic, and every socket of the channel, the
// sender's included, gets the seed's shape
// {"type","message","author","image","server","channel","id"}.
// The process holds one Redis subscription per channel that has local
// sockets and fans each message out to them. Nothing is stored, as in the
// seed. Prints "ready" on stdout once Redis answers and the port listens.

const http = require('node:http');
const jwt = require('jsonwebtoken');
const Redis = require('ioredis');
const { WebSocketServer } = require('ws');

const PORT = Number(process.env.PORT || 8000);
const REDIS_PORT = Number(process.env.REDIS_PORT || 6379);
const SECRET = process.env.CHAT_JWT_SECRET || '';
if (!SECRET) {
  console.error('CHAT_JWT_SECRET must be set');
  process.exit(2);
}

// Close codes of our gateway's seed endpoint (docs/protocol.md).
const CLOSE_BAD_TOKEN = 4002;
const CLOSE_EXPIRED_TOKEN = 4003;

const PATH = /^\/ws\/chat\/([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9_-]{1,64})\/?$/;

const pub = new Redis({ port: REDIS_PORT, host: '127.0.0.1' });
const sub = new Redis({ port: REDIS_PORT, host: '127.0.0.1' });
for (const r of [pub, sub]) r.on('error', (err) => console.error('redis:', err.message));

// Topic -> the local sockets of that channel.
const rooms = new Map();

function topicOf(server, channel) {
  return `chat:${server}:${channel}`;
}

function join(topic, ws) {
  let room = rooms.get(topic);
  if (!room) {
    room = new Set();
    rooms.set(topic, room);
    sub.subscribe(topic).catch((err) => console.error('subscribe:', err.message));
  }
  room.add(ws);
}

function leave(topic, ws) {
  const room = rooms.get(topic);
  if (!room) return;
  room.delete(ws);
  if (room.size === 0) {
    rooms.delete(topic);
    sub.unsubscribe(topic).catch((err) => console.error('unsubscribe:', err.message));
  }
}

sub.on('message', (topic, payload) => {
  const room = rooms.get(topic);
  if (!room) return;
  for (const ws of room) {
    if (ws.readyState === ws.OPEN) ws.send(payload);
  }
});

function verify(token) {
  try {
    const claims = jwt.verify(token, SECRET, { algorithms: ['HS256'] });
    if (typeof claims.sub !== 'string' || claims.sub === '' || typeof claims.exp !== 'number') {
      return { code: CLOSE_BAD_TOKEN };
    }
    return {
      author: typeof claims.name === 'string' && claims.name !== '' ? claims.name : claims.sub,
      image: typeof claims.img === 'string' ? claims.img : '',
    };
  } catch (err) {
    return { code: err.name === 'TokenExpiredError' ? CLOSE_EXPIRED_TOKEN : CLOSE_BAD_TOKEN };
  }
}

const wss = new WebSocketServer({ noServer: true });
const httpServer = http.createServer((req, res) => {
  res.writeHead(404).end();
});

httpServer.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://localhost');
  const m = PATH.exec(url.pathname);
  if (!m) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    onConnection(ws, m[1], m[2], url.searchParams.get('token') || '');
  });
});

function onConnection(ws, server, channel, token) {
  const who = verify(token);
  if (who.code) {
    ws.close(who.code, 'authentication failed');
    return;
  }
  const topic = topicOf(server, channel);
  join(topic, ws);
  ws.on('close', () => leave(topic, ws));
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== 'object') return;
    if (frame.type !== undefined && frame.type !== 'chat_message') return;
    if (typeof frame.message !== 'string' || frame.id === undefined) return;
    const out = JSON.stringify({
      type: 'chat_message',
      message: frame.message,
      author: who.author,
      image: who.image,
      server,
      channel,
      id: frame.id,
    });
    pub.publish(topic, out).catch((err) => console.error('publish:', err.message));
  });
}

Promise.all([pub.ping(), sub.ping()])
  .then(() => {
    httpServer.listen(PORT, '127.0.0.1', () => {
      process.stdout.write('ready\n');
    });
  })
  .catch((err) => {
    console.error('redis not reachable:', err.message);
    process.exit(1);
  });

function shutdown() {
  for (const ws of wss.clients) ws.terminate();
  httpServer.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
