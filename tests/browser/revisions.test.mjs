// Real-browser tests of edited and deleted messages: the open channel shows
// the change live, badges do not count edits and drop a deleted unread
// message, and a reload shows each message in its latest state.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BASE_URL,
  WAIT_MS,
  assertNoPageErrors,
  login,
  openChannel,
  rowsWithText,
  send,
  suffix,
  waitForBadge,
  waitForRow,
  withBrowser,
  SKIP_WITHOUT_CHATCTL,
  chatctl,
} from "./helpers.mjs";

// Frames sent as a client of the protocol does: a second connection of the
// same user (a dev login under the same name), opened from the user's page.
// frames: chat_message (its id is the nonce) / edit_message / delete_message
// frames (an id is made up where one has none), sent one at a time; a
// rate_limited refusal is waited out and the frame sent again under the same
// id. Resolves with the acks' seqs.
async function revise(user, frames) {
  return user.page.evaluate(
    async ({ name, frames }) => {
      const login = await fetch("/api/dev/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name }),
      }).then((r) => r.json());
      const url = new URL("/ws", location.href);
      url.protocol = url.protocol.replace("http", "ws");
      const ws = new WebSocket(url);
      const acks = [];
      await new Promise((resolve, reject) => {
        const next = () => {
          if (acks.length === frames.length) return resolve();
          const i = acks.length;
          ws.send(JSON.stringify({ id: `rev-${i}`, ...frames[i] }));
        };
        ws.onopen = () =>
          ws.send(JSON.stringify({ type: "identify", token: login.token }));
        ws.onmessage = (event) => {
          const frame = JSON.parse(event.data);
          if (frame.type === "ready") {
            next();
          } else if (frame.type === "ack") {
            acks.push(frame.seq);
            next();
          } else if (frame.type === "error" && frame.code === "rate_limited") {
            setTimeout(next, Number(frame.retry_after_ms ?? 200));
          } else if (frame.type === "error") {
            reject(new Error(JSON.stringify(frame)));
          }
        };
        ws.onerror = () => reject(new Error("socket error"));
      });
      ws.close();
      return acks;
    },
    { name: user.name, frames },
  );
}

test("an edit and a delete show at once, are not unread, and survive a reload", async () => {
  assert.ok(BASE_URL, "GATEWAY_URL is set");
  await withBrowserDo(async (alice, bob, tag) => {
    // Bob watches general; alice posts two messages there.
    await openChannel(bob, "demo", "general");
    await openChannel(alice, "demo", "general");
    const first = `typo ${tag}`;
    const second = `oops ${tag}`;
    for (const text of [first, second]) {
      await send(alice, text);
      await waitForRow(alice, text, "sent");
      await waitForRow(bob, text);
    }
    const [a] = await rowsWithText(alice, first);
    const [b] = await rowsWithText(alice, second);
    const fixed = `fixed ${tag}`;
    await revise(alice, [
      {
        type: "edit_message",
        server: "demo",
        channel: "general",
        seq: a.seq,
        message: fixed,
      },
      {
        type: "delete_message",
        server: "demo",
        channel: "general",
        seq: b.seq,
      },
    ]);
    for (const user of [alice, bob]) {
      await waitForRow(user, fixed);
      const [row] = await rowsWithText(user, fixed);
      assert.equal(row.seq, a.seq, "the edit replaced the text in place");
      assert.equal((await rowsWithText(user, first)).length, 0);
      await waitForRow(user, "This message was deleted.");
      assert.equal((await rowsWithText(user, second)).length, 0);
    }
    const edited = bob.page.locator(
      `[data-testid="message"][data-seq="${a.seq}"] [data-testid="message-edited"]`,
    );
    assert.equal(await edited.isVisible(), true, "an edited message says so");

    // Bob moves away; alice posts two more, edits one and deletes the other:
    // one message is unread, however many seqs the log took.
    await openChannel(bob, "demo", "random");
    const third = `third ${tag}`;
    const fourth = `fourth ${tag}`;
    for (const text of [third, fourth]) {
      await send(alice, text);
      await waitForRow(alice, text, "sent");
    }
    await waitForBadge(bob.page, "unread-demo-general", 2);
    const [c] = await rowsWithText(alice, third);
    const [d] = await rowsWithText(alice, fourth);
    await revise(alice, [
      {
        type: "edit_message",
        server: "demo",
        channel: "general",
        seq: c.seq,
        message: `${third}!`,
      },
      {
        type: "delete_message",
        server: "demo",
        channel: "general",
        seq: d.seq,
      },
    ]);
    await waitForBadge(bob.page, "unread-demo-general", 1);
    // The server counts the same after a reload.
    await bob.page.reload();
    await bob.page
      .getByTestId("channel-demo-general")
      .waitFor({ timeout: WAIT_MS });
    await waitForBadge(bob.page, "unread-demo-general", 1);
    // History brings the latest state.
    await openChannel(bob, "demo", "general");
    await waitForRow(bob, fixed);
    await waitForRow(bob, `${third}!`);
    assert.equal((await rowsWithText(bob, first)).length, 0);
    assert.equal((await rowsWithText(bob, fourth)).length, 0);
    await waitForBadge(bob.page, "unread-demo-general", 0);
    assertNoPageErrors(alice, bob);
  });
});

async function withBrowserDo(body) {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    await body(alice, bob, tag);
  });
}

test("the author edits and deletes from the message's own buttons; others have none", async () => {
  await withBrowserDo(async (alice, bob, tag) => {
    await openChannel(alice, "demo", "general");
    await openChannel(bob, "demo", "general");
    const text = `draft ${tag}`;
    await send(alice, text);
    await waitForRow(alice, text, "sent");
    await waitForRow(bob, text);
    const [{ seq }] = await rowsWithText(alice, text);
    const row = (user) =>
      user.page.locator(`[data-testid="message"][data-seq="${seq}"]`);

    // Bob cannot edit alice's message: he has no buttons for it.
    assert.equal(await row(bob).getByTestId("message-edit").count(), 1);
    assert.equal(await row(bob).getByTestId("message-edit").isHidden(), true);

    // Alice edits it in place: Enter saves.
    await row(alice).hover();
    await row(alice).getByTestId("message-edit").click();
    const editor = row(alice).getByTestId("message-edit-input");
    await editor.fill(`final ${tag}`);
    await editor.press("Enter");
    for (const user of [alice, bob]) await waitForRow(user, `final ${tag}`);
    assert.equal(
      await row(bob).getByTestId("message-edited").isVisible(),
      true,
    );

    // Escape cancels an edit without sending anything.
    await row(alice).hover();
    await row(alice).getByTestId("message-edit").click();
    await editor.fill("never sent");
    await editor.press("Escape");
    await waitForRow(alice, `final ${tag}`);

    // Delete asks once more, then deletes for everyone.
    await row(alice).hover();
    await row(alice).getByTestId("message-delete").click();
    assert.equal(
      await row(alice).getByTestId("message-delete").textContent(),
      "Confirm delete",
    );
    await row(alice).getByTestId("message-delete").click();
    for (const user of [alice, bob]) {
      await user.page.waitForFunction(
        (s) =>
          document.querySelector(
            `[data-testid="message"][data-seq="${s}"] [data-testid="message-text"]`,
          )?.textContent === "This message was deleted.",
        seq,
        { timeout: WAIT_MS },
      );
    }
    assert.equal((await rowsWithText(bob, "never sent")).length, 0);
    assert.equal(await row(alice).getByTestId("message-edit").isHidden(), true);
    assertNoPageErrors(alice, bob);
  });
});

test(
  "Load older pages back, edits among the newest seqs, to the first message, then hides",
  {
    skip: SKIP_WITHOUT_CHATCTL,
  },
  async () => {
    await withBrowser(async (browser) => {
      const tag = suffix();
      const alice = await login(browser, `alice-${tag}`);
      const server = `paged-${tag}`;
      chatctl("create-server", server, `Paged ${tag}`);
      chatctl("create-channel", server, "log", "log");
      chatctl("add-member", server, alice.id);
      // 55 messages, then edits of the first one: the edit events sit in the
      // log among the newest seqs, and the first page (50) leaves 5 older.
      const chat = (i) => ({
        type: "chat_message",
        server,
        channel: "log",
        message: `m${i} ${tag}`,
        id: `p${i}-${tag}`,
      });
      const sent = await revise(
        alice,
        Array.from({ length: 55 }, (_, i) => chat(i + 1)),
      );
      const edits = [1, 2, 3].map((n) => ({
        type: "edit_message",
        server,
        channel: "log",
        seq: sent[0],
        message: `m1 ${tag} (edit ${n})`,
      }));
      await revise(alice, edits);
      // Bob joins afterwards: all he sees comes from history pages.
      const bob = await login(browser, `bob-${tag}`);
      chatctl("add-member", server, bob.id);
      await bob.page
        .getByTestId(`channel-${server}-log`)
        .waitFor({ timeout: WAIT_MS });
      await openChannel(bob, server, "log");
      await waitForRow(bob, `m55 ${tag}`);
      assert.equal(
        (await rowsWithText(bob, `m5 ${tag}`)).length,
        0,
        "not in the first page",
      );
      const older = bob.page.getByTestId("load-older");
      assert.equal(await older.isVisible(), true, "more is older");
      await older.click();
      await waitForRow(bob, `m1 ${tag} (edit 3)`);
      await waitForRow(bob, `m5 ${tag}`);
      await bob.page.waitForFunction(
        () =>
          document.querySelector('[data-testid="load-older"]')?.hidden === true,
        null,
        { timeout: WAIT_MS },
      );
      const seqs = await bob.page.$$eval('[data-testid="message"]', (rows) =>
        rows.map((r) => Number(r.dataset.seq)),
      );
      assert.equal(seqs.length, 55, "every message once");
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        "in seq order",
      );
      assertNoPageErrors(alice, bob);
    });
  },
);
