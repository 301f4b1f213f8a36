// Real-browser tests of the web client (web/) against a running gateway.
// GATEWAY_URL is the gateway's base URL, e.g. http://127.0.0.1:8080. The
// browser is Debian's Chromium; Playwright never downloads one.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  WAIT_MS,
  assertNoPageErrors,
  login,
  openChannel,
  rowsWithText,
  send,
  suffix,
  unreadCount,
  waitForRow,
  withBrowser,
} from "./helpers.mjs";

test("two users chat in demo/general, each message shown exactly once", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    await openChannel(alice, "demo", "general");
    await openChannel(bob, "demo", "general");

    const hello = `hello from alice ${tag}`;
    await send(alice, hello);
    await waitForRow(bob, hello);
    await waitForRow(alice, hello, "sent");

    const reply = `hi alice, bob here ${tag}`;
    await send(bob, reply);
    await waitForRow(alice, reply);
    await waitForRow(bob, reply, "sent");

    // The reply travelled the same channel after the first message, so any
    // duplicate of the first one would be on screen by now.
    const [aliceHello, bobHello, aliceReply, bobReply] = await Promise.all([
      rowsWithText(alice, hello),
      rowsWithText(bob, hello),
      rowsWithText(alice, reply),
      rowsWithText(bob, reply),
    ]);
    assert.equal(
      aliceHello.length,
      1,
      `alice shows her message once: ${JSON.stringify(aliceHello)}`,
    );
    assert.equal(
      bobHello.length,
      1,
      `bob shows alice's message once: ${JSON.stringify(bobHello)}`,
    );
    assert.equal(
      aliceReply.length,
      1,
      `alice shows bob's reply once: ${JSON.stringify(aliceReply)}`,
    );
    assert.equal(
      bobReply.length,
      1,
      `bob shows his reply once: ${JSON.stringify(bobReply)}`,
    );

    assert.equal(aliceHello[0].state, "sent");
    assert.match(
      aliceHello[0].seq ?? "",
      /^[1-9]\d*$/,
      "a sent message carries its seq",
    );
    assert.equal(bobHello[0].author, alice.name);
    assert.equal(
      bobHello[0].seq,
      aliceHello[0].seq,
      "both panes agree on the seq",
    );
    assert.equal(aliceReply[0].author, bob.name);
    assert.equal(bobReply[0].state, "sent");
    assert.ok(
      Number(aliceReply[0].seq) > Number(aliceHello[0].seq),
      "the reply comes later in the channel",
    );

    assertNoPageErrors(alice, bob);
  });
});

test("a message in another channel raises its unread badge", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    await openChannel(bob, "demo", "general");
    await openChannel(alice, "demo", "random");

    const before = await unreadCount(bob, "demo", "random");
    const text = `over in random ${tag}`;
    await send(alice, text);
    await waitForRow(alice, text, "sent");
    await bob.page.waitForFunction(
      ([testid, expected]) => {
        const badge = document.querySelector(`[data-testid="${testid}"]`);
        return badge && !badge.hidden && Number(badge.textContent) === expected;
      },
      ["unread-demo-random", before + 1],
      { timeout: WAIT_MS },
    );
    assert.equal(
      (await rowsWithText(bob, text)).length,
      0,
      "general's pane does not show random's message",
    );
    assert.equal(
      await unreadCount(bob, "demo", "general"),
      0,
      "the open channel has no badge",
    );

    // Opening the channel shows the message once and clears the badge.
    await openChannel(bob, "demo", "random");
    await waitForRow(bob, text);
    assert.equal((await rowsWithText(bob, text)).length, 1);
    await bob.page
      .getByTestId("unread-demo-random")
      .waitFor({ state: "hidden", timeout: WAIT_MS });

    assertNoPageErrors(alice, bob);
  });
});

test("message text is shown literally, never as HTML", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    await openChannel(alice, "demo", "general");
    await openChannel(bob, "demo", "general");

    const payload = `<img src=x onerror=alert(1)> ${tag}`;
    await send(alice, payload);
    await waitForRow(alice, payload, "sent");
    await waitForRow(bob, payload);

    for (const user of [alice, bob]) {
      assert.equal((await rowsWithText(user, payload)).length, 1);
      assert.equal(
        await user.page.locator('[data-testid="messages"] img').count(),
        0,
        `no <img> in ${user.name}'s pane`,
      );
    }
    assertNoPageErrors(alice, bob);
  });
});
