// The delivery watch from the browser: the web client reports its watermarks
// in heartbeat frames, and a message its WebSocket never delivered to the
// page (dropped here, between the gateway and the page) is sent again by the
// gateway once the grace period has passed, and shown once.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  WAIT_MS,
  assertNoPageErrors,
  login,
  openChannel,
  rowsWithText,
  send,
  suffix,
  waitForRow,
  withBrowser,
} from "./helpers.mjs";

// Routes a context's WebSockets through the test: records what the page
// sends, shortens ready's heartbeat interval (so the test needs no 15 s
// wait), and drops the first chat_message whose text is net.drop.
function deliveryTap() {
  const net = { sent: [], dropped: 0, drop: null };
  const parse = (message) => {
    try {
      return JSON.parse(String(message));
    } catch {
      return null;
    }
  };
  net.setup = (context) =>
    context.routeWebSocket(/\/ws$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        const frame = parse(message);
        if (frame) net.sent.push(frame);
        server.send(message);
      });
      server.onMessage((message) => {
        const frame = parse(message);
        if (frame?.type === "ready") {
          frame.heartbeat_interval_ms = 500;
          ws.send(JSON.stringify(frame));
          return;
        }
        if (
          frame?.type === "chat_message" &&
          net.drop !== null &&
          frame.message === net.drop
        ) {
          net.drop = null;
          net.dropped += 1;
          return;
        }
        ws.send(message);
      });
    });
  return net;
}

async function waitFor(condition, what) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = condition();
    if (value) return value;
    assert.ok(Date.now() < deadline, what);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("the client reports watermarks, and a message lost on its way to the page is sent again", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const net = deliveryTap();
    const bob = await login(browser, `bob-${tag}`, { setup: net.setup });
    const alice = await login(browser, `alice-${tag}`);
    await openChannel(bob, "demo", "general");
    await openChannel(alice, "demo", "general");

    const first = `first ${tag}`;
    await send(alice, first);
    await waitForRow(bob, first);
    const [row] = await rowsWithText(bob, first);
    // Bob's heartbeats name general at the seq he holds.
    const general = (frame) =>
      frame.channels?.find(
        (c) => c.server === "demo" && c.channel === "general",
      );
    const beat = await waitFor(
      () =>
        net.sent.find(
          (f) => f.type === "heartbeat" && general(f)?.seq === row.seq,
        ),
      `bob reports general at seq ${row.seq}`,
    );
    assert.match(beat.user_seq, /^\d+$/);

    // The next message never reaches bob's page. Nothing comes after it to
    // show a gap: only his watermark says he lacks it.
    const lost = `lost ${tag}`;
    net.drop = lost;
    await send(alice, lost);
    await waitForRow(alice, lost, "sent");
    await waitFor(() => net.dropped === 1, "the tap dropped the message");
    // Sent again once a heartbeat finds it missing a grace period (5 s)
    // after the gateway knew of it: up to about two grace periods.
    await waitForRow(bob, lost, undefined, 3 * WAIT_MS);
    assert.equal((await rowsWithText(bob, lost)).length, 1);
    const [again] = await rowsWithText(bob, lost);
    assert.equal(Number(again.seq), Number(row.seq) + 1);
    await waitFor(
      () =>
        net.sent.find(
          (f) => f.type === "heartbeat" && general(f)?.seq === again.seq,
        ),
      "bob's watermark moves past the refilled message",
    );
    assertNoPageErrors(alice, bob);
  });
});
