// The chat view's page (src/chat/html.ts + src/webview/chat/main.ts) in a real DOM: Debian chromium
// through playwright-core, fed by the real extension side (a ChatStore on disk and ChatViewSync,
// which posts the chrome, pages and deltas). How each finished answer ends is visible to the user;
// a long chat is windowed (few messages in the DOM), scrolls back into the archive with the scroll
// position kept, is searched with Ctrl+F over the stored data, and dims messages when the window moves.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import type { ToWebview } from "../../common/chatMessages";
import type { ChatWindowState } from "../../common/protocol";
import { ChatStore, FolderStorage, type StoredMessage } from "../../src/chat/store";
import { ChatViewSync } from "../../src/chat/viewSync";
import { openChatFixture, openChatPage, serve, windowState, type ChatFixture } from "../support/chatPage";
import { skipWithoutChromium } from "../support/chromium";

const server = { state: "ready" as const, message: "tinycoder is ready on cpu.", modelName: "tinycoder" };

const stored = (id: string, role: StoredMessage["role"], text: string, status: StoredMessage["status"] = "done", extra: Partial<StoredMessage> = {}): StoredMessage => ({
  id,
  role,
  text,
  status,
  createdAt: 1,
  ...extra,
});

describe("chat view in a real DOM (chromium)", { skip: skipWithoutChromium }, () => {
  let fixture: ChatFixture;
  let page: Page;
  let store: ChatStore;
  let sync: ChatViewSync;
  let outbox: ToWebview[];

  before(async () => {
    fixture = await openChatFixture("chatview");
    ({ page, store, sync, outbox } = fixture);
  });

  after(async () => {
    await fixture?.close();
  });

  /** Shows a chat as the extension does when it is opened, and answers the page's requests. */
  async function open(chatId: string, window?: ChatWindowState) {
    sync.postState(store.get(chatId)!, { attachments: [], server, ...(window ? { window } : {}) });
    await sync.postNewest(chatId);
    await serve(page, sync, outbox);
  }

  const shown = () =>
    page.evaluate(() =>
      Array.from(document.querySelectorAll("#transcript .message")).map((article) => ({
        id: (article as HTMLElement).dataset.id!,
        author: (article.querySelector(".author")?.textContent ?? "").trim(),
        body: (article.querySelector(".message-body")?.textContent ?? "").trim(),
        note: (article.querySelector(".message-note")?.textContent ?? "").trim(),
        codeBlocks: article.querySelectorAll(".code-block").length,
        outside: article.classList.contains("outside"),
      })),
    );

  it("says how each answer ended: no text, Stopped, why it was cancelled, the error; and who answered", async () => {
    const chat = store.create();
    const messages = [
      stored("u1", "user", "Write a stack class."),
      stored("a1", "assistant", "\n\n  \n", "done", { model: "tinycoder" }),
      stored("u2", "user", "Again?"),
      stored("a2", "assistant", "A stack is last in, first out.", "done", { model: "stories260K" }),
      stored("u3", "user", "Longer?"),
      stored("a3", "assistant", "Partial", "cancelled", { cancelReason: "stop" }),
      stored("u4", "user", "And?"),
      stored("a4", "assistant", "", "error", { error: "The server stopped." }),
      stored("u5", "user", "More?"),
      stored("a5", "assistant", `${"\n".repeat(511)}#`, "done"),
      stored("u6", "user", "Go on."),
      stored("a6", "assistant", "Half", "cancelled", { cancelReason: "settingsChanged" }),
    ];
    for (const message of messages) store.addMessage(chat.id, message);
    await open(chat.id);
    const view = await shown();
    assert.equal(view.length, messages.length);
    assert.match(view[1]!.note, /^The model ended its answer without any text\. Send again or rephrase\.$/);
    assert.equal(view[3]!.note, "", "an answer with text has no note");
    assert.equal(view[3]!.author, "stories260K", "an answer keeps the model it was answered with");
    assert.equal(view[5]!.note, "Stopped");
    assert.equal(view[7]!.note, "The server stopped.", "an error shows the error, not the empty-answer note");
    assert.match(view[9]!.note, /without any text/, "blank lines and a lone # are no text either");
    assert.equal(view[11]!.note, "Cancelled: settings changed");
    assert.equal(view[0]!.note, "", "user messages have no note");
  });

  it("shows code the model wrote without a fence as a code block, indentation intact", async () => {
    const chat = store.create();
    const code = "def push(self, item):\n    self.items.append(item)";
    store.addMessage(chat.id, stored("u1", "user", "Write push."));
    store.addMessage(chat.id, stored("a1", "assistant", `Here is push:\n${code}`));
    await open(chat.id);
    const view = await shown();
    assert.equal(view[1]!.codeBlocks, 1);
    assert.ok(view[1]!.body.includes("    self.items.append(item)"), `indentation kept: ${JSON.stringify(view[1]!.body)}`);
  });

  it("renders a streamed answer exactly as the same answer shown whole", async () => {
    const chat = store.create();
    const answer = [
      "Here is the plan:\n\n- parse\n- check\n\n",
      "```python\ndef parse(line):\n\n    return line.split(',')\n```\n\n",
      "Unfenced next:\nclass Stack:\n    def push(self, x):\n        self.items.append(x)\n\n",
      "```\nplain block\n```\nThe **end**.",
    ].join("");
    store.addMessage(chat.id, stored("u1", "user", "Plan?"));
    store.addMessage(chat.id, stored("a1", "assistant", "", "streaming"));
    await open(chat.id);
    for (let at = 0; at < answer.length; at += 7) {
      store.appendText(chat.id, "a1", answer.slice(at, at + 7));
      sync.postToken(chat.id, "a1", answer.slice(at, at + 7));
      await serve(page, sync, outbox);
      await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
    }
    store.updateMessage(chat.id, "a1", { status: "done" });
    sync.postMessage(chat.id, "a1");
    await serve(page, sync, outbox);
    const body = () => page.evaluate(() => document.querySelector('#transcript .message[data-id="a1"] .message-body')!.innerHTML);
    const streamed = await body();
    await open(store.create().id);
    await open(chat.id);
    assert.equal(streamed, await body());
    assert.ok(!streamed.includes(`class="cursor"`), "no cursor once the answer is done");
  });

  describe("a chat of 1,000 messages (600 of them archived)", () => {
    let chatId: string;

    before(async () => {
      const chat = store.create();
      chatId = chat.id;
      for (let i = 0; i < 500; i++) {
        store.addMessage(chatId, stored(`u${i}`, "user", `Question ${i}: what about item ${i}?${i === 123 ? " The zebra word." : ""}`));
        store.addMessage(chatId, stored(`a${i}`, "assistant", `Answer ${i}.\n\nSome text for answer ${i}, long enough to wrap once or twice in the narrow view.`));
      }
      await store.flush();
      assert.equal(store.get(chatId)!.archived, 600, "the live JSON keeps the newest 400");
      await open(chatId, windowState(chatId, "u490", 980));
    });

    it("keeps only a window of messages in the DOM, newest last, dimmed up to the window's boundary", async () => {
      const view = await shown();
      assert.ok(view.length <= 50, `${view.length} messages in the DOM`);
      assert.equal(view.at(-1)!.id, "a499");
      const first490 = view.findIndex((m) => m.id === "u490");
      assert.ok(first490 > 0);
      assert.ok(view.slice(0, first490).every((m) => m.outside), "messages before the boundary are dimmed");
      assert.ok(view.slice(first490).every((m) => !m.outside), "messages from the boundary on are not");
      assert.equal(await page.locator("#transcript .window-divider").count(), 1);
      assert.match(await page.locator("#meter").innerText(), /500 \/ 512 tokens in view · 7 shifts · 980 messages out of view/);
    });

    it("updates dimming in place when the window moves (the elements stay)", async () => {
      await page.evaluate(() => ((document.querySelector('#transcript .message[data-id="a495"]') as HTMLElement & { __kept?: boolean }).__kept = true));
      sync.postWindow(windowState(chatId, "u497", 994));
      await serve(page, sync, outbox);
      const view = await shown();
      assert.ok(view.find((m) => m.id === "a495")!.outside && view.find((m) => m.id === "a496")!.outside);
      assert.ok(!view.find((m) => m.id === "u497")!.outside);
      const kept = await page.evaluate(() => (document.querySelector('#transcript .message[data-id="a495"]') as HTMLElement & { __kept?: boolean }).__kept);
      assert.equal(kept, true, "the message element was patched, not rebuilt");
      assert.match(await page.locator("#meter").innerText(), /994 messages out of view/);
    });

    it("scrolls back into the archive, keeping what the user looks at in place", async () => {
      for (let round = 0; round < 200; round++) {
        const before = await page.evaluate(() => {
          const root = document.getElementById("transcript")!;
          const anchor = document.querySelector("#transcript .message") as HTMLElement;
          return { id: anchor.dataset.id!, top: anchor.getBoundingClientRect().top, scrollTop: root.scrollTop };
        });
        if (before.id === "u0") break;
        await page.evaluate(() => {
          const root = document.getElementById("transcript")!;
          root.scrollTop = Math.max(0, root.scrollTop - 600);
        });
        await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
        await serve(page, sync, outbox);
        const after = await page.evaluate((id) => {
          const anchor = document.querySelector(`#transcript .message[data-id="${id}"]`) as HTMLElement | null;
          return { top: anchor?.getBoundingClientRect().top, count: document.querySelectorAll("#transcript .message").length };
        }, before.id);
        assert.ok(after.count <= 50, `${after.count} messages in the DOM at round ${round}`);
        if (after.top !== undefined) {
          const moved = after.top - before.top;
          const scrolled = before.scrollTop - Math.max(0, before.scrollTop - 600);
          assert.ok(Math.abs(moved - scrolled) < 2, `the message on top moved ${moved.toFixed(1)} px for a ${scrolled} px scroll (round ${round})`);
        }
      }
      const view = await shown();
      assert.equal(view[0]!.id, "u0", "the first message of the chat (from the archive) was reached");
      assert.match(view[0]!.body, /^Question 0:/);
    });

    it("finds a message with Ctrl+F in the stored data (archive included) and brings it into view", async () => {
      await page.locator("#input").focus();
      await page.keyboard.press("Control+f");
      assert.equal(await page.locator("#search").isVisible(), true);
      await page.keyboard.type("zebra");
      await page.keyboard.press("Enter");
      await serve(page, sync, outbox);
      await page.waitForSelector('#transcript .message.target[data-id="u123"]');
      const inView = await page.evaluate(() => {
        const root = document.getElementById("transcript")!.getBoundingClientRect();
        const hit = document.querySelector('#transcript .message[data-id="u123"]')!.getBoundingClientRect();
        return hit.top >= root.top && hit.bottom <= root.bottom;
      });
      assert.ok(inView, "the hit is scrolled into view");
      assert.match(await page.locator(".search-count").innerText(), /^1 of 1$/);
      assert.ok((await shown()).length <= 50);
    });

    it("after a window reload shows the stored window at once (meter, dimming, badges); 'no model' without a model", async () => {
      sync.postWindow(windowState(chatId, "u497", 994)); // the extension remembers the last window with the chat
      await store.flush();
      const reloaded = await ChatStore.open(new FolderStorage(fixture.folder)); // a new extension host
      const outbox2: ToWebview[] = [];
      const sync2 = new ChatViewSync(reloaded, (message) => outbox2.push(message));
      const fresh = await openChatPage(fixture.browser); // a new webview
      try {
        sync2.postState(reloaded.get(chatId)!, { attachments: [], server: { state: "starting", message: "Starting StreamSink server…" } });
        await sync2.postNewest(chatId);
        await serve(fresh, sync2, outbox2);
        assert.match(await fresh.locator("#meter").innerText(), /500 \/ 512 tokens in view · 7 shifts · 994 messages out of view/);
        assert.equal(await fresh.locator('#transcript .message.outside[data-id="a496"] .window-badge').count(), 1, "dimmed, with its badge");
        assert.equal(await fresh.locator('#transcript .message.outside[data-id="u497"]').count(), 0);
        sync2.postState(reloaded.get(chatId)!, { attachments: [], server: { state: "noModel", message: "No model configured." } });
        await serve(fresh, sync2, outbox2);
        assert.equal((await fresh.locator("#meter").innerText()).trim(), "no model · 994 messages out of view");
        sync2.postState(reloaded.get(chatId)!, { attachments: [], server: { state: "error", message: "Could not load x.gguf." } });
        await serve(fresh, sync2, outbox2);
        assert.ok(await fresh.locator("#banner.error").isVisible(), "a model error uses the error style");
      } finally {
        await fresh.context().close();
      }
    });

    it("jumps to a pinned message", async () => {
      store.updateMessage(chatId, "u450", { pinned: true });
      sync.postMessage(chatId, "u450");
      sync.postState(store.get(chatId)!, { attachments: [], server });
      await serve(page, sync, outbox);
      await page.locator("#jump-pinned").click();
      await serve(page, sync, outbox);
      await page.waitForSelector('#transcript .message.target.pinned[data-id="u450"]');
    });
  });
});
