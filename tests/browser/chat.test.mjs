// Real-browser tests of the web client (web/) against a running gateway.
// GATEWAY_URL is the gateway's base URL, e.g. http://127.0.0.1:8080. The
// browser is Debian's Chromium; Playwright never downloads one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

const BASE_URL = (process.env.GATEWAY_URL ?? "").replace(/\/+$/, "");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const WAIT_MS = 15_000;

if (!BASE_URL)
  throw new Error(
    "set GATEWAY_URL to the gateway's base URL, e.g. http://127.0.0.1:8080",
  );

const suffix = () => randomBytes(4).toString("hex");

// Runs body(browser) with a fresh Chromium that is always closed afterwards.
async function withBrowser(body) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  try {
    await body(browser);
  } finally {
    await browser.close();
  }
}

// Logs a new user in, in its own browser context (own sessionStorage).
async function login(browser, name) {
  const context = await browser.newContext({
    viewport: { width: 1100, height: 700 },
  });
  const page = await context.newPage();
  const user = { name, page, errors: [], dialogs: [] };
  page.on("pageerror", (err) => user.errors.push(err.message));
  page.on("dialog", (dialog) => {
    user.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  await page.goto(`${BASE_URL}/`);
  await page.getByTestId("login-name").fill(name);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("channel-demo-general").waitFor({ timeout: WAIT_MS });
  await page
    .getByTestId("reconnect-banner")
    .waitFor({ state: "hidden", timeout: WAIT_MS });
  return user;
}

// Opens a channel and waits until its first history page is on screen.
async function openChannel(user, server, channel) {
  await user.page.getByTestId(`channel-${server}-${channel}`).click();
  await user.page
    .locator(
      `[data-testid="messages"][data-channel="${server}/${channel}"][data-loaded="true"]`,
    )
    .waitFor({ timeout: WAIT_MS });
}

async function send(user, text) {
  await user.page.getByTestId("composer-input").fill(text);
  await user.page.getByTestId("composer-send").click();
}

// Every message row whose text is exactly `text`, as plain data.
function rowsWithText(user, text) {
  return user.page.evaluate(
    (wanted) =>
      [...document.querySelectorAll('[data-testid="message"]')]
        .filter(
          (row) =>
            row.querySelector('[data-testid="message-text"]')?.textContent ===
            wanted,
        )
        .map((row) => ({
          seq: row.dataset.seq ?? null,
          state: row.dataset.state,
          author: row.querySelector('[data-testid="message-author"]')
            ?.textContent,
        })),
    text,
  );
}

// Polls in the page until some row shows exactly `text` (in `state`, if given).
async function waitForRow(user, text, state) {
  try {
    await user.page.waitForFunction(
      ([wanted, wantedState]) =>
        [...document.querySelectorAll('[data-testid="message"]')].some(
          (row) =>
            row.querySelector('[data-testid="message-text"]')?.textContent ===
              wanted &&
            (!wantedState || row.dataset.state === wantedState),
        ),
      [text, state ?? null],
      { timeout: WAIT_MS },
    );
  } catch (err) {
    const rows = await rowsWithText(user, text);
    throw new Error(
      `${user.name} never showed ${JSON.stringify(text)} (${state ?? "any state"}); rows: ${JSON.stringify(rows)}`,
      {
        cause: err,
      },
    );
  }
}

// The unread count on a channel's badge: 0 when the badge is hidden.
function unreadCount(user, server, channel) {
  return user.page.evaluate((testid) => {
    const badge = document.querySelector(`[data-testid="${testid}"]`);
    return !badge || badge.hidden ? 0 : Number(badge.textContent);
  }, `unread-${server}-${channel}`);
}

function assertNoPageErrors(...users) {
  for (const user of users) {
    assert.deepEqual(
      user.errors,
      [],
      `JavaScript errors in ${user.name}'s page`,
    );
    assert.deepEqual(user.dialogs, [], `dialogs opened in ${user.name}'s page`);
  }
}

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
