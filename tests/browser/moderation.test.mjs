// Real-browser tests of roles and moderation: the owner sees moderation
// controls on others' messages and a slow-mode picker, a member sees neither;
// slow mode holds the member back with a visible reason; a removed member's
// page drops the server at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  WAIT_MS,
  assertNoPageErrors,
  login,
  openChannel,
  send,
  suffix,
  waitForRow,
  waitForToast,
  withBrowser,
  SKIP_WITHOUT_CHATCTL,
  chatctl,
} from "./helpers.mjs";

// The row showing exactly `text`.
function rowOf(user, text) {
  return user.page
    .getByTestId("message")
    .filter({
      has: user.page.getByTestId("message-text").getByText(text, {
        exact: true,
      }),
    })
    .first();
}

// Which moderation controls a message row shows on hover.
async function controlsOf(row) {
  await row.hover();
  const shown = {};
  for (const [name, testid] of [
    ["edit", "message-edit"],
    ["delete", "message-delete"],
    ["remove", "message-remove-author"],
    ["ban", "message-ban-author"],
  ])
    shown[name] = await row.getByTestId(testid).isVisible();
  return shown;
}

// Polls until the badge with this test id counts `count` mentions.
async function waitForMentions(user, testid, count) {
  await user.page.waitForFunction(
    ([id, wanted]) =>
      document.querySelector(`[data-testid="${id}"]`)?.dataset.mentions ===
      String(wanted),
    [testid, count],
    { timeout: WAIT_MS },
  );
}

// Reloads a tab and waits until its new connection shows `channel`.
async function reload(user, channelTestId) {
  await user.page.reload();
  await user.page.getByTestId(channelTestId).waitFor({ timeout: WAIT_MS });
  await user.page
    .getByTestId("reconnect-banner")
    .waitFor({ state: "hidden", timeout: WAIT_MS });
}

test(
  "an owner moderates from the message list: slow mode holds a member back, @everyone pings, removal drops the server",
  { skip: SKIP_WITHOUT_CHATCTL },
  async () => {
    await withBrowser(async (browser) => {
      const tag = suffix();
      const alice = await login(browser, `alice-${tag}`);
      const bob = await login(browser, `bob-${tag}`);
      const server = `mod-${tag}`;
      const name = `Moderated ${tag}`;
      const channel = `channel-${server}-talk`;
      chatctl("create-server", server, name);
      chatctl("create-channel", server, "talk", "talk");
      chatctl("add-member", server, alice.id);
      chatctl("add-member", server, bob.id);
      chatctl("set-role", server, alice.id, "owner");
      // Roles arrive with ready: alice's page connects again.
      await reload(alice, channel);
      await bob.page.getByTestId(channel).waitFor({ timeout: WAIT_MS });
      await openChannel(alice, server, "talk");
      await openChannel(bob, server, "talk");

      const bobText = `hello from bob ${tag}`;
      const aliceText = `hello from alice ${tag}`;
      await send(bob, bobText);
      await send(alice, aliceText);
      await waitForRow(alice, bobText);
      await waitForRow(bob, aliceText);

      // The owner's controls on bob's message: delete, remove, ban, no edit.
      const bobsRow = rowOf(alice, bobText);
      assert.deepEqual(await controlsOf(bobsRow), {
        edit: false,
        delete: true,
        remove: true,
        ban: true,
      });
      // A member has none on the owner's message, and no slow-mode picker.
      assert.deepEqual(await controlsOf(rowOf(bob, aliceText)), {
        edit: false,
        delete: false,
        remove: false,
        ban: false,
      });
      assert.equal(
        await bob.page.getByTestId("slow-mode-select").isVisible(),
        false,
      );
      assert.equal(
        await alice.page.getByTestId("slow-mode-select").isVisible(),
        true,
      );

      // Slow mode: one message per 30 s for bob, who learns it on his next ready.
      await alice.page.getByTestId("slow-mode-select").selectOption("30");
      await waitForToast(alice.page, "Slow mode on");
      await reload(bob, channel);
      await openChannel(bob, server, "talk");
      const note = bob.page.getByTestId("slow-mode-note");
      await note.waitFor({ timeout: WAIT_MS });
      assert.match(await note.textContent(), /30 s/);
      const first = `first under slow mode ${tag}`;
      const second = `second under slow mode ${tag}`;
      await send(bob, first);
      await waitForRow(bob, first, "sent");
      await send(bob, second);
      await waitForRow(bob, second, "failed");
      const error = await rowOf(bob, second)
        .getByTestId("message-error")
        .textContent();
      assert.match(error, /retry in \d+ s/, error);
      // The owner is exempt.
      for (const text of [`owner one ${tag}`, `owner two ${tag}`]) {
        await send(alice, text);
        await waitForRow(alice, text, "sent");
      }

      // The owner's @everyone pings bob, who is reading another channel: the
      // channel's badge counts it as a mention (after a reload too).
      await openChannel(bob, "demo", "general");
      await send(alice, `@everyone meeting now ${tag}`);
      const badge = `unread-${server}-talk`;
      await waitForMentions(bob, badge, 1);
      await reload(bob, channel);
      await waitForMentions(bob, badge, 1);

      // Removal: two clicks on Remove; bob's page loses the server at once.
      const remove = bobsRow.getByTestId("message-remove-author");
      await bobsRow.hover();
      await remove.click();
      assert.equal(await remove.textContent(), "Confirm remove");
      await remove.click();
      await waitForToast(alice.page, "was removed");
      await waitForToast(bob.page, `You were removed from ${name}`);
      await bob.page
        .getByTestId(channel)
        .waitFor({ state: "detached", timeout: WAIT_MS });
      // The pane moved to a channel bob still has (every dev user is in demo).
      assert.doesNotMatch(
        (await bob.page.getByTestId("messages").getAttribute("data-channel")) ??
          "",
        new RegExp(`^${server}/`),
      );
      // And after a reload it stays gone.
      await bob.page.reload();
      await bob.page
        .getByTestId("reconnect-banner")
        .waitFor({ state: "hidden", timeout: WAIT_MS });
      assert.equal(await bob.page.getByTestId(channel).count(), 0);
      assertNoPageErrors(alice, bob);
    });
  },
);
