// Shared helpers of the browser tests: a Debian Chromium per test, users
// logged in through the development login, and polling waits on the page.
// GATEWAY_URL is the gateway's base URL, e.g. http://127.0.0.1:8080.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const BASE_URL = (process.env.GATEWAY_URL ?? "").replace(/\/+$/, "");
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
export const WAIT_MS = 15_000;

if (!BASE_URL)
  throw new Error(
    "set GATEWAY_URL to the gateway's base URL, e.g. http://127.0.0.1:8080",
  );

export const suffix = () => randomBytes(4).toString("hex");

// The stack's admin CLI, for tests that set servers up:
// CHATCTL="/path/to/chatctl --chat=127.0.0.1:50061". Tests that need it
// skip when it is unset (SKIP_WITHOUT_CHATCTL).
export const CHATCTL = (process.env.CHATCTL ?? "").split(" ").filter(Boolean);
export const SKIP_WITHOUT_CHATCTL =
  CHATCTL.length === 0 && "set CHATCTL to the stack's chatctl command";
export const chatctl = (...args) =>
  execFileSync(CHATCTL[0], [...CHATCTL.slice(1), ...args], {
    encoding: "utf8",
  });

// Runs body(browser) with a fresh Chromium that is always closed afterwards.
export async function withBrowser(body) {
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

// Logs a new user in, in its own browser context (own sessionStorage and
// localStorage). The user's id is the one the page shows for itself.
// setup(context), if given, runs before the first page opens (to route its
// WebSockets, for example).
export async function login(browser, name, { setup } = {}) {
  const context = await browser.newContext({
    viewport: { width: 1100, height: 700 },
  });
  if (setup) await setup(context);
  const user = { name, context, errors: [], dialogs: [] };
  user.page = await loginPage(user, await context.newPage());
  user.id = await user.page.getByTestId("me-name").getAttribute("data-user-id");
  assert.ok(user.id, `${name} has a user id`);
  return user;
}

// Another tab of the same user, in the same context (shared localStorage, own
// sessionStorage, so it logs in again under the same name).
export async function openTab(user) {
  return loginPage(user, await user.context.newPage());
}

async function loginPage(user, page) {
  page.on("pageerror", (err) => user.errors.push(err.message));
  page.on("dialog", (dialog) => {
    user.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  await page.goto(`${BASE_URL}/`);
  await page.getByTestId("login-name").fill(user.name);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("channel-demo-general").waitFor({ timeout: WAIT_MS });
  await page
    .getByTestId("reconnect-banner")
    .waitFor({ state: "hidden", timeout: WAIT_MS });
  return page;
}

// Opens a channel and waits until its first history page is on screen.
export async function openChannel(user, server, channel) {
  await user.page.getByTestId(`channel-${server}-${channel}`).click();
  await user.page
    .locator(
      `[data-testid="messages"][data-channel="${server}/${channel}"][data-loaded="true"]`,
    )
    .waitFor({ timeout: WAIT_MS });
}

export async function send(user, text) {
  await user.page.getByTestId("composer-input").fill(text);
  await user.page.getByTestId("composer-send").click();
}

// Every message row whose text is exactly `text`, as plain data.
export function rowsWithText(user, text) {
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
export async function waitForRow(user, text, state, timeout = WAIT_MS) {
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
      { timeout },
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
export function unreadCount(user, server, channel) {
  return user.page.evaluate((testid) => {
    const badge = document.querySelector(`[data-testid="${testid}"]`);
    return !badge || badge.hidden ? 0 : Number(badge.textContent);
  }, `unread-${server}-${channel}`);
}

// Polls until the badge with this test id on `page` shows `count` (0: the
// badge is hidden), e.g. "unread-demo-random" or "server-unread-demo".
export async function waitForBadge(page, testid, count) {
  try {
    await page.waitForFunction(
      ([id, wanted]) => {
        const badge = document.querySelector(`[data-testid="${id}"]`);
        if (!badge) return false;
        return wanted === 0
          ? badge.hidden
          : !badge.hidden && Number(badge.textContent) === wanted;
      },
      [testid, count],
      { timeout: WAIT_MS },
    );
  } catch (err) {
    const now = await page.evaluate((id) => {
      const badge = document.querySelector(`[data-testid="${id}"]`);
      return !badge ? "(absent)" : badge.hidden ? "0" : badge.textContent;
    }, testid);
    throw new Error(`${testid} never showed ${count}; it shows ${now}`, {
      cause: err,
    });
  }
}

// Polls until the element with this test id has data-status `status`.
export async function waitForStatus(page, testid, status, timeout = WAIT_MS) {
  try {
    await page.waitForFunction(
      ([id, wanted]) =>
        document.querySelector(`[data-testid="${id}"]`)?.dataset.status ===
        wanted,
      [testid, status],
      { timeout },
    );
  } catch (err) {
    const now = await page.evaluate(
      (id) =>
        document.querySelector(`[data-testid="${id}"]`)?.dataset.status ??
        "(absent)",
      testid,
    );
    throw new Error(`${testid} never became ${status}; it is ${now}`, {
      cause: err,
    });
  }
}

// Waits for a toast whose text contains `text`.
export async function waitForToast(page, text) {
  await page
    .getByTestId("toast")
    .filter({ hasText: text })
    .first()
    .waitFor({ timeout: WAIT_MS });
}

// Saves a screenshot of each page when SCREENSHOT_DIR is set.
export async function screenshot(name, ...users) {
  const dir = process.env.SCREENSHOT_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  for (const user of users)
    await user.page.screenshot({
      path: join(dir, `${name}-${user.name.split("-")[0]}.png`),
    });
}

export function assertNoPageErrors(...users) {
  for (const user of users) {
    assert.deepEqual(
      user.errors,
      [],
      `JavaScript errors in ${user.name}'s page`,
    );
    assert.deepEqual(user.dialogs, [], `dialogs opened in ${user.name}'s page`);
  }
}
