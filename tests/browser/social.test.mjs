// Real-browser tests of the web client's social features: friend invitations
// (send, accept, cancel, decline), presence, the status picker, typing
// indicators, and how refusals and rate limits are shown.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  WAIT_MS,
  assertNoPageErrors,
  login,
  openChannel,
  openTab,
  screenshot,
  send,
  suffix,
  waitForRow,
  waitForStatus,
  waitForToast,
  withBrowser,
  SKIP_WITHOUT_CHATCTL,
  chatctl,
} from "./helpers.mjs";

// The pending invitation row between inviter and invitee on `page`.
const invitationRow = (page, inviter, invitee) =>
  page.locator(
    `[data-invitation-id][data-inviting="${inviter.id}"][data-invited="${invitee.id}"]`,
  );

async function invite(from, to, page = from.page) {
  await page.getByTestId("invite-input").fill(to.id);
  await page.getByTestId("invite-send").click();
}

// Waits until both parties list the pending invitation and returns its id.
async function pendingInvitation(inviter, invitee) {
  const incoming = invitationRow(invitee.page, inviter, invitee);
  const outgoing = invitationRow(inviter.page, inviter, invitee);
  await incoming.waitFor({ timeout: WAIT_MS });
  await outgoing.waitFor({ timeout: WAIT_MS });
  const id = await incoming.getAttribute("data-invitation-id");
  assert.match(id, /^\S+$/);
  assert.equal(await outgoing.getAttribute("data-invitation-id"), id);
  assert.equal(await incoming.getAttribute("data-direction"), "incoming");
  assert.equal(await outgoing.getAttribute("data-direction"), "outgoing");
  assert.equal(await incoming.getAttribute("data-testid"), `invitation-${id}`);
  return id;
}

async function waitGone(page, testid) {
  await page
    .getByTestId(testid)
    .waitFor({ state: "detached", timeout: WAIT_MS });
}

// alice invites bob from the friends panel and bob accepts.
async function befriend(alice, bob) {
  await invite(alice, bob);
  const id = await pendingInvitation(alice, bob);
  // Only the invitee is offered accept/decline, only the inviter cancel.
  assert.equal(
    await alice.page.getByTestId(`invitation-accept-${id}`).count(),
    0,
  );
  assert.equal(
    await bob.page.getByTestId(`invitation-cancel-${id}`).count(),
    0,
  );
  await bob.page.getByTestId(`invitation-accept-${id}`).click();
  await waitGone(bob.page, `invitation-${id}`);
  await waitGone(alice.page, `invitation-${id}`);
  await alice.page
    .getByTestId(`friend-${bob.id}`)
    .waitFor({ timeout: WAIT_MS });
  await bob.page
    .getByTestId(`friend-${alice.id}`)
    .waitFor({ timeout: WAIT_MS });
}

test("a friend invitation sent by user id, accepted: both are friends, online", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    for (const user of [alice, bob])
      assert.equal(
        await user.page.locator('[data-testid^="friend-"]').count(),
        0,
        `${user.name} starts without friends`,
      );

    await befriend(alice, bob);
    assert.equal(await alice.page.getByTestId("invite-input").inputValue(), "");
    await waitForToast(alice.page, "accepted your invitation");
    await waitForStatus(alice.page, `friend-${bob.id}`, "online");
    await waitForStatus(bob.page, `friend-${alice.id}`, "online");
    await waitForStatus(alice.page, `presence-${bob.id}`, "online");
    await waitForStatus(bob.page, `presence-${alice.id}`, "online");
    assert.equal(
      await alice.page
        .getByTestId(`friend-${bob.id}`)
        .locator(".person-sub")
        .innerText(),
      "Online",
    );

    // The friendship survives a reload: it comes back in ready.
    await bob.page.reload();
    await waitForStatus(bob.page, `friend-${alice.id}`, "online");

    await openChannel(alice, "demo", "general");
    await openChannel(bob, "demo", "general");
    await screenshot("friends", alice, bob);
    assertNoPageErrors(alice, bob);
  });
});

test("the status picker: friends see dnd, idle, invisible as offline, online", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    await befriend(alice, bob);
    await waitForStatus(bob.page, `friend-${alice.id}`, "online");

    for (const [picked, seen] of [
      ["dnd", "dnd"],
      ["idle", "idle"],
      ["invisible", "offline"],
      ["online", "online"],
    ]) {
      await alice.page.getByTestId("status-select").selectOption(picked);
      await waitForStatus(bob.page, `friend-${alice.id}`, seen);
      await waitForStatus(bob.page, `presence-${alice.id}`, seen);
      await waitForStatus(alice.page, "me-status", seen); // Her own aggregate.
    }

    // The pick is kept across a reload (sent with identify).
    await alice.page.getByTestId("status-select").selectOption("dnd");
    await waitForStatus(bob.page, `friend-${alice.id}`, "dnd");
    await alice.page.reload();
    await alice.page
      .getByTestId("channel-demo-general")
      .waitFor({ timeout: WAIT_MS });
    assert.equal(
      await alice.page.getByTestId("status-select").inputValue(),
      "dnd",
    );
    await waitForStatus(alice.page, "me-status", "dnd");
    await waitForStatus(bob.page, `friend-${alice.id}`, "dnd");
    assertNoPageErrors(alice, bob);
  });
});

test("a friend who closes the page goes offline", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    await befriend(alice, bob);
    await waitForStatus(alice.page, `friend-${bob.id}`, "online");

    await bob.context.close();
    // The presence service waits out its offline grace (~2 s) first.
    await waitForStatus(alice.page, `friend-${bob.id}`, "offline");
    await waitForStatus(alice.page, `presence-${bob.id}`, "offline");
    assert.match(
      await alice.page.getByTestId(`friend-${bob.id}`).innerText(),
      /Last seen/,
    );
    assertNoPageErrors(alice);
  });
});

test("typing: shown to others in that channel only, ended by the message", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    await openChannel(alice, "demo", "general");
    await openChannel(bob, "demo", "general");
    const bobSees = bob.page.getByTestId("typing-indicator");
    assert.equal(await bobSees.isHidden(), true);

    const text = `typed by alice ${tag}`;
    await alice.page.getByTestId("composer-input").fill(text);
    await bobSees.waitFor({ timeout: WAIT_MS });
    assert.equal(await bobSees.innerText(), `${alice.name} is typing…`);
    await screenshot("typing", alice, bob);
    // Nobody is shown their own typing.
    assert.equal(
      await alice.page.getByTestId("typing-indicator").isHidden(),
      true,
    );

    // The message ends it, long before the 10 s expiry would.
    await alice.page.getByTestId("composer-send").click();
    await waitForRow(bob, text);
    await bobSees.waitFor({ state: "hidden", timeout: 3_000 });

    // Typing in random is shown in random, not in general.
    await openChannel(alice, "demo", "random");
    await alice.page.getByTestId("composer-input").fill(`in random ${tag}`);
    await openChannel(bob, "demo", "random");
    await bob.page.waitForFunction(
      (name) =>
        document.querySelector('[data-testid="typing-indicator"]')
          ?.textContent === `${name} is typing…`,
      alice.name,
      { timeout: WAIT_MS },
    );
    await openChannel(bob, "demo", "general");
    assert.equal(await bobSees.isHidden(), true);
    assertNoPageErrors(alice, bob);
  });
});

test("an invitation can be cancelled by its sender and declined by its invitee", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    const carol = await login(browser, `carol-${tag}`);

    // Alice cancels hers.
    await invite(alice, bob);
    let id = await pendingInvitation(alice, bob);
    assert.equal(
      await bob.page.getByTestId(`invitation-cancel-${id}`).count(),
      0,
    );
    await alice.page.getByTestId(`invitation-cancel-${id}`).click();
    await waitGone(alice.page, `invitation-${id}`);
    await waitGone(bob.page, `invitation-${id}`);
    await waitForToast(bob.page, "cancelled their invitation");

    // Carol invites her; she declines. (Declining bob at once would wait out
    // the courtesy delay: cancel and decline are one action, as on the server.)
    await invite(carol, alice);
    id = await pendingInvitation(carol, alice);
    await screenshot("invitation", alice, carol);
    await alice.page.getByTestId(`invitation-decline-${id}`).click();
    await waitGone(alice.page, `invitation-${id}`);
    await waitGone(carol.page, `invitation-${id}`);
    await waitForToast(carol.page, "declined your invitation");

    for (const user of [alice, bob, carol])
      assert.equal(
        await user.page.locator('[data-testid^="friend-"]').count(),
        0,
        `${user.name} has no friends`,
      );
    // Decided invitations stay gone after a reload.
    await alice.page.reload();
    await alice.page
      .getByTestId("channel-demo-general")
      .waitFor({ timeout: WAIT_MS });
    assert.equal(await alice.page.locator("[data-invitation-id]").count(), 0);
    assertNoPageErrors(alice, bob, carol);
  });
});

test("a pending invitation waits in ready for an invitee who was offline", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const bob = await login(browser, `bob-${tag}`);
    await bob.context.close(); // Bob exists but is gone.
    const alice = await login(browser, `alice-${tag}`);
    await invite(alice, bob);
    await invitationRow(alice.page, alice, bob).waitFor({ timeout: WAIT_MS });

    const bobAgain = await login(browser, bob.name);
    const row = invitationRow(bobAgain.page, alice, bob);
    await row.waitFor({ timeout: WAIT_MS });
    assert.equal(await row.getAttribute("data-direction"), "incoming");
    assert.match(await row.innerText(), /wants to be your friend/);
    assertNoPageErrors(alice, bobAgain);
  });
});

test("refusals and rate limits are shown as toasts", async () => {
  await withBrowser(async (browser) => {
    const tag = suffix();
    const alice = await login(browser, `alice-${tag}`);
    const bob = await login(browser, `bob-${tag}`);
    const carol = await login(browser, `carol-${tag}`);

    await invite(alice, alice);
    await waitForToast(alice.page, "You cannot invite yourself.");
    await invite(alice, { id: `ghost-${tag}` });
    await waitForToast(alice.page, `no user with the id “ghost-${tag}”`);
    await alice.page.getByTestId("invite-input").fill("not an id!");
    await alice.page.getByTestId("invite-send").click();
    await waitForToast(alice.page, "A user id is 1 to 64 letters");

    // A server invitation for someone already in it.
    await alice.page.getByTestId("invite-server").selectOption("demo");
    await invite(alice, bob);
    await waitForToast(alice.page, "already a member of that server");
    await alice.page.getByTestId("invite-server").selectOption("");

    // The seed's courtesy delay: a second tab of the same browser (shared
    // localStorage) inviting the same person at once is held back locally.
    const tab2 = await openTab(alice);
    await invite(alice, carol);
    await invite(alice, carol, tab2);
    await waitForToast(tab2, "Please wait a moment");
    await invitationRow(carol.page, alice, carol).waitFor({ timeout: WAIT_MS });
    // Both tabs list the invitation she sent.
    await invitationRow(tab2, alice, carol).waitFor({ timeout: WAIT_MS });

    // Another device has its own localStorage: there the server's limit
    // answers, with the time left in its 1500 ms window.
    const device2 = await login(browser, alice.name);
    await invite(alice, bob);
    await invitationRow(bob.page, alice, bob).waitFor({ timeout: WAIT_MS });
    await invite(device2, bob);
    await waitForToast(device2.page, "Slow down: try again in");
    assertNoPageErrors(alice, bob, carol, device2);
  });
});

test(
  "a server invitation, accepted, adds the server to the invitee's sidebar",
  {
    skip: SKIP_WITHOUT_CHATCTL,
  },
  async () => {
    await withBrowser(async (browser) => {
      const tag = suffix();
      const server = `team-${tag}`;
      const alice = await login(browser, `alice-${tag}`);
      const bob = await login(browser, `bob-${tag}`);
      chatctl("create-server", server, `Team ${tag}`);
      chatctl("create-channel", server, "lobby", "lobby");
      chatctl("add-member", server, alice.id);
      // Alice is told at once (server_joined), and may now invite into it.
      await alice.page
        .getByTestId(`channel-${server}-lobby`)
        .waitFor({ timeout: WAIT_MS });
      await alice.page.getByTestId("invite-server").selectOption(server);
      await invite(alice, bob);
      const id = await pendingInvitation(alice, bob);
      const row = bob.page.getByTestId(`invitation-${id}`);
      assert.equal(await row.getAttribute("data-server"), server);
      assert.match(
        await row.innerText(),
        new RegExp(`invites you to Team ${tag}`),
      );
      await bob.page.getByTestId(`invitation-accept-${id}`).click();
      await waitGone(bob.page, `invitation-${id}`);
      await waitGone(alice.page, `invitation-${id}`);

      await openChannel(bob, server, "lobby");
      const text = `bob joined ${tag}`;
      await send(bob, text);
      await waitForRow(bob, text, "sent");
      await openChannel(alice, server, "lobby");
      await waitForRow(alice, text);
      // A server invitation makes members, not friends.
      assert.equal(await bob.page.getByTestId(`friend-${alice.id}`).count(), 0);
      assertNoPageErrors(alice, bob);
    });
  },
);
