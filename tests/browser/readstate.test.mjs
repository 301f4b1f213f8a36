// Real-browser tests of read state kept on the server (unread badges shared
// by every tab of a user), channels created while connected, and resuming
// after a dropped connection (the server replays what was missed).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  WAIT_MS,
  assertNoPageErrors,
  login,
  openChannel,
  openTab,
  rowsWithText,
  send,
  suffix,
  unreadCount,
  waitForBadge,
  waitForRow,
  waitForToast,
  withBrowser,
  SKIP_WITHOUT_CHATCTL,
  chatctl,
} from "./helpers.mjs";

// Reloads a tab and waits until its new connection is identified.
async function reload(page) {
  await page.reload();
  await page.getByTestId("channel-demo-general").waitFor({ timeout: WAIT_MS });
  await page
    .getByTestId("reconnect-banner")
    .waitFor({ state: "hidden", timeout: WAIT_MS });
}

// The server badge must be the sum of its channels' badges.
async function assertServerBadgeIsTheSum(page, server) {
  const { sum, shown } = await page.evaluate((id) => {
    const count = (badge) =>
      !badge || badge.hidden ? 0 : Number(badge.textContent);
    let total = 0;
    for (const badge of document.querySelectorAll(
      `[data-testid^="unread-${id}-"]`,
    ))
      total += count(badge);
    return {
      sum: total,
      shown: count(
        document.querySelector(`[data-testid="server-unread-${id}"]`),
      ),
    };
  }, server);
  assert.equal(shown, sum, `the ${server} badge sums its channels`);
}

test("reading a channel in one tab clears its badge in the other, also after a reload", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    const tab2 = await openTab(bob);
    const tabs = [bob.page, tab2];

    // A new user has read nothing: random counts every message ever posted
    // there. Reading it in tab 1 clears it in both tabs.
    await bob.page.bringToFront();
    await openChannel(bob, "demo", "random");
    for (const page of tabs) await waitForBadge(page, "unread-demo-random", 0);
    await openChannel(bob, "demo", "general");

    // Alice posts three messages to random, which neither tab is viewing.
    await openChannel(alice, "demo", "random");
    const texts = [1, 2, 3].map((n) => `unread ${n} ${tag}`);
    for (const text of texts) {
      await send(alice, text);
      await waitForRow(alice, text, "sent");
    }
    for (const page of tabs) {
      await waitForBadge(page, "unread-demo-random", 3);
      await assertServerBadgeIsTheSum(page, "demo");
    }
    assert.equal(await unreadCount({ page: tab2 }, "demo", "general"), 0);

    // Tab 1 opens random: it shows each message once, and tab 2's badge goes
    // away without a reload.
    await openChannel(bob, "demo", "random");
    for (const text of texts) {
      await waitForRow(bob, text);
      assert.equal((await rowsWithText(bob, text)).length, 1);
    }
    for (const page of tabs) {
      await waitForBadge(page, "unread-demo-random", 0);
      await assertServerBadgeIsTheSum(page, "demo");
    }

    // The marker is stored on the server: a reload of tab 2 keeps it at 0.
    await reload(tab2);
    await waitForBadge(tab2, "unread-demo-random", 0);
    assert.equal(await unreadCount({ page: tab2 }, "demo", "random"), 0);
    await waitForBadge(tab2, "server-unread-demo", 0);
    assertNoPageErrors(alice, bob);
  });
});

test(
  "a channel created while connected appears at once and counts unread",
  {
    skip: SKIP_WITHOUT_CHATCTL,
  },
  async () => {
    await withBrowser(async (browser) => {
      const tag = suffix();
      const server = `reads-${tag}`;
      const alice = await login(browser, `alice-${tag}`);
      const bob = await login(browser, `bob-${tag}`);
      chatctl("create-server", server, `Reads ${tag}`);
      chatctl("add-member", server, alice.id);
      chatctl("add-member", server, bob.id);
      for (const user of [alice, bob])
        await user.page
          .getByTestId(`server-unread-${server}`)
          .waitFor({ state: "attached", timeout: WAIT_MS });

      chatctl("create-channel", server, "news", "news");
      for (const user of [alice, bob])
        await user.page
          .getByTestId(`channel-${server}-news`)
          .waitFor({ timeout: WAIT_MS });

      await openChannel(bob, server, "news");
      const text = `fresh news ${tag}`;
      await send(bob, text);
      await waitForRow(bob, text, "sent");
      await waitForBadge(alice.page, `unread-${server}-news`, 1);
      await waitForBadge(alice.page, `server-unread-${server}`, 1);

      await openChannel(alice, server, "news");
      await waitForRow(alice, text);
      assert.equal((await rowsWithText(alice, text)).length, 1);
      await waitForBadge(alice.page, `unread-${server}-news`, 0);
      await waitForBadge(alice.page, `server-unread-${server}`, 0);
      assertNoPageErrors(alice, bob);
    });
  },
);

// Routes a context's WebSockets through the test, which records every frame
// and can cut the connection (and refuse new ones) until restored.
function outageSwitch() {
  const net = { blocked: false, live: [], sent: [], received: [] };
  const parse = (message) => {
    try {
      return JSON.parse(String(message));
    } catch {
      return { type: "(binary)" };
    }
  };
  net.setup = (context) =>
    context.routeWebSocket(/\/ws$/, (ws) => {
      if (net.blocked) {
        ws.close({ code: 1012, reason: "test outage" }).catch(() => {});
        return;
      }
      const server = ws.connectToServer();
      net.live.push({ ws, server });
      ws.onMessage((message) => {
        net.sent.push(parse(message));
        server.send(message);
      });
      server.onMessage((message) => {
        net.received.push(parse(message));
        ws.send(message);
      });
    });
  net.cut = async () => {
    net.blocked = true;
    const live = net.live.splice(0);
    for (const { ws, server } of live) {
      await server.close().catch(() => {});
      await ws.close({ code: 1012, reason: "test outage" }).catch(() => {});
    }
  };
  net.restore = () => {
    net.blocked = false;
  };
  return net;
}

test("after a dropped connection the client resumes: what was missed is replayed, shown and counted once", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const net = outageSwitch();
    const bob = await login(browser, `bob-${tag}`, { setup: net.setup });
    const alice = await login(browser, `alice-${tag}`);
    await openChannel(bob, "demo", "general");
    await openChannel(alice, "demo", "random");

    // Bob has seen one message in random (not open) and one in general.
    const randomBefore = await unreadCount(bob, "demo", "random");
    const seenRandom = `random before ${tag}`;
    await send(alice, seenRandom);
    await waitForRow(alice, seenRandom, "sent");
    const [randomRow] = await rowsWithText(alice, seenRandom);
    await waitForBadge(bob.page, "unread-demo-random", randomBefore + 1);
    await openChannel(alice, "demo", "general");
    const seenGeneral = `general before ${tag}`;
    await send(alice, seenGeneral);
    await waitForRow(bob, seenGeneral);
    const [generalRow] = await rowsWithText(bob, seenGeneral);
    const firstReady = net.received.find((f) => f.type === "ready");
    assert.ok(firstReady?.session_id, "bob's first ready has a session id");

    // The connection drops; while bob is away alice posts and invites him.
    await net.cut();
    await bob.page
      .getByTestId("reconnect-banner")
      .waitFor({ timeout: WAIT_MS });
    const missed = [1, 2, 3].map((n) => `missed ${n} ${tag}`);
    for (const text of missed) {
      await send(alice, text);
      await waitForRow(alice, text, "sent");
    }
    await openChannel(alice, "demo", "random");
    for (const n of [1, 2]) {
      const text = `missed in random ${n} ${tag}`;
      await send(alice, text);
      await waitForRow(alice, text, "sent");
    }
    await alice.page.getByTestId("invite-input").fill(bob.id);
    await alice.page.getByTestId("invite-send").click();
    await alice.page
      .locator(`[data-invitation-id][data-invited="${bob.id}"]`)
      .waitFor({ timeout: WAIT_MS });
    const sentBefore = net.sent.length;
    net.restore();

    // Bob is back: the missed messages appear once each, in order.
    await bob.page
      .getByTestId("reconnect-banner")
      .waitFor({ state: "hidden", timeout: WAIT_MS });
    for (const text of missed) await waitForRow(bob, text);
    for (const text of [seenGeneral, ...missed])
      assert.equal((await rowsWithText(bob, text)).length, 1, text);
    const seqs = [];
    for (const text of missed)
      seqs.push(Number((await rowsWithText(bob, text))[0].seq));
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      "missed messages are in seq order",
    );

    // It identified with its cursors and was replayed to, not paged.
    const identify = net.sent
      .slice(sentBefore)
      .find((f) => f.type === "identify");
    assert.ok(identify?.resume, "the reconnect identifies with resume");
    assert.equal(identify.resume.session_id, firstReady.session_id);
    assert.match(identify.resume.user_seq, /^\d+$/);
    const cursor = (channel) =>
      identify.resume.channels.find(
        (c) => c.server === "demo" && c.channel === channel,
      )?.seq;
    assert.equal(cursor("general"), generalRow.seq);
    assert.equal(cursor("random"), randomRow.seq);
    const deadline = Date.now() + WAIT_MS;
    while (!net.received.some((f) => f.type === "resumed")) {
      assert.ok(Date.now() < deadline, "the server sends resumed");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(
      net.sent
        .slice(sentBefore)
        .filter((f) => f.type === "history" && "after" in f),
      [],
      "no history catch-up when resuming",
    );

    // The replayed messages in random are counted once: ready already has
    // them in its unread count.
    await waitForBadge(bob.page, "unread-demo-random", randomBefore + 3);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(
      await unreadCount(bob, "demo", "random"),
      randomBefore + 3,
      "random's badge counts each missed message once",
    );
    assert.equal(await unreadCount(bob, "demo", "general"), 0);
    // The invitation arrived in ready and its event was replayed (the toast).
    await waitForToast(bob.page, "wants to be your friend");
    assert.equal(
      await bob.page
        .locator(`[data-invitation-id][data-inviting="${alice.id}"]`)
        .count(),
      1,
    );
    // Viewing general after the replay moved the read marker on the server.
    const newest = String(Math.max(...seqs));
    const readDeadline = Date.now() + WAIT_MS;
    while (
      !net.sent.some(
        (f) =>
          f.type === "read" &&
          f.channel === "general" &&
          Number(f.seq) >= Number(newest),
      )
    ) {
      assert.ok(Date.now() < readDeadline, "bob sends read for general");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assertNoPageErrors(alice, bob);
  });
});
