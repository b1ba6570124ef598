// Validation of everything the chat receives — webview → extension, extension → webview, client →
// server — and the pure helpers of the chat: template suffixes and the persisted history.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseFromWebview, parseToWebview, type ViewMessage, type ViewState } from "../../common/chatMessages";
import type { ViewWindow } from "../../common/chatWindow";
import { llamaTextCommonPrefix, llamaTextSuffix } from "../../server/chat/format";
import { checkChatPinParams, checkChatResetParams, checkChatSendParams } from "../../server/chat/params";
import { ChatStore, FolderStorage, titleFrom } from "../../src/chat/store";
import { eventually } from "../support/eventually";

describe("webview → extension messages", () => {
  it("accepts every well-formed message", () => {
    const good: unknown[] = [
      { type: "ready" },
      { type: "send", text: "hello" },
      { type: "stop" },
      { type: "openChat", chatId: "c1" },
      { type: "deleteChat", chatId: "c1" },
      { type: "pin", messageId: "u1", pinned: true },
      { type: "copy", text: "x = 1" },
      { type: "insert", text: "x = 1" },
      { type: "attach", what: "selection" },
      { type: "attach", what: "file" },
      { type: "removeAttachment", index: 0 },
      { type: "openSettings" },
      { type: "page", chatId: "c1", start: 0, count: 40 },
      { type: "search", chatId: "c1", query: "stack" },
    ];
    for (const message of good) assert.deepEqual(parseFromWebview(message), message);
  });

  it("drops anything malformed, and extra fields never pass through", () => {
    const bad: unknown[] = [
      null,
      "send",
      [],
      { type: "eval", code: "x" },
      { type: "send" },
      { type: "send", text: "   " },
      { type: "send", text: 42 },
      { type: "send", text: "x".repeat(100_001) },
      { type: "openChat", chatId: "" },
      { type: "openChat", chatId: "x".repeat(129) },
      { type: "pin", messageId: "u1", pinned: "yes" },
      { type: "attach", what: "workspace" },
      { type: "removeAttachment", index: -1 },
      { type: "removeAttachment", index: 1.5 },
      { type: "removeAttachment", index: 16 },
      { type: "page", chatId: "c1", start: -1, count: 40 },
      { type: "page", chatId: "c1", start: 0, count: 101 },
      { type: "search", chatId: "c1", query: "x".repeat(201) },
    ];
    for (const message of bad) assert.equal(parseFromWebview(message), undefined, JSON.stringify(message)?.slice(0, 80));
    assert.deepEqual(parseFromWebview({ type: "stop", extra: "<script>" }), { type: "stop" });
  });
});

describe("extension → webview messages", () => {
  const window: ViewWindow = {
    chatId: "c1",
    firstInWindow: "u1",
    outsideAfter: [],
    outsideCount: 1,
    boundary: 1,
    partial: ["a0"],
    pinnedInSink: [],
    pinnedPending: ["u1"],
    pinnedTokens: 12,
    pinBudget: 100,
    templateSinks: 40,
    kvCells: 480,
    contextSize: 512,
    shifts: 3,
    tokensEvicted: 90,
  };
  const state: ViewState = {
    chats: [{ id: "c1", title: "Hi", updatedAt: 1, messageCount: 2 }],
    chatId: "c1",
    title: "Hi",
    total: 2,
    pinned: [{ id: "u1", index: 0 }],
    attachments: [],
    streamingId: "a1",
    server: { state: "ready", message: "ready", modelName: "tiny" },
    window,
  };

  const messages: ViewMessage[] = [
    { id: "u1", index: 0, role: "user", text: "hi", attachments: ["a.ts:1-3"], pinned: true, status: "done" },
    { id: "a1", index: 1, role: "assistant", text: "**hello**", attachments: [], pinned: false, status: "cancelled", model: "tiny", cancelReason: "settingsChanged" },
  ];

  it("accepts state, page, message, token, window, search results and notice messages", () => {
    assert.deepEqual(parseToWebview({ type: "state", state }), { type: "state", state });
    const page = { type: "page", chatId: "c1", start: 0, total: 2, messages };
    assert.deepEqual(parseToWebview(page), page);
    const one = { type: "message", chatId: "c1", total: 2, message: messages[1] };
    assert.deepEqual(parseToWebview(one), one);
    const results = { type: "searchResults", chatId: "c1", query: "hel", hits: [{ id: "a1", index: 1, snippet: "**hello**" }], more: false };
    assert.deepEqual(parseToWebview(results), results);
    assert.deepEqual(parseToWebview({ type: "token", chatId: "c1", messageId: "a1", delta: "x" }), {
      type: "token",
      chatId: "c1",
      messageId: "a1",
      delta: "x",
    });
    assert.deepEqual(parseToWebview({ type: "window", window }), { type: "window", window });
    assert.deepEqual(parseToWebview({ type: "notice", level: "error", text: "bad" }), { type: "notice", level: "error", text: "bad" });
  });

  it("rejects a malformed message, page, window, server status or an unbounded list", () => {
    const withBadPin = { ...state, pinned: [{ id: "u1", index: -1 }] };
    const withBadWindow = { ...state, window: { ...window, kvCells: -1 } };
    const withBigWindow = { ...state, window: { ...window, outsideAfter: Array.from({ length: 201 }, (_, i) => `m${i}`) } };
    const withBadServer = { ...state, server: { state: "on fire", message: "" } };
    for (const bad of [withBadPin, withBadWindow, withBigWindow, withBadServer]) {
      assert.equal(parseToWebview({ type: "state", state: bad }), undefined);
    }
    assert.equal(parseToWebview({ type: "page", chatId: "c1", start: 0, total: 2, messages: [{ ...messages[0], role: "system" }] }), undefined);
    assert.equal(parseToWebview({ type: "message", chatId: "c1", total: 2, message: { ...messages[1], cancelReason: "gremlins" } }), undefined);
    assert.equal(parseToWebview({ type: "page", chatId: "c1", start: 0, total: 200, messages: Array(101).fill(messages[0]) }), undefined);
    assert.equal(parseToWebview({ type: "token", chatId: "c1", messageId: "a1" }), undefined);
    assert.equal(parseToWebview({ type: "notice", level: "debug", text: "x" }), undefined);
  });
});

describe("client → server chat parameters", () => {
  const base = { chatId: "c1", userMessageId: "u1", assistantMessageId: "a1", text: "hello", history: [] };

  it("fills defaults and keeps valid values", () => {
    const checked = checkChatSendParams(base);
    assert.ok(checked.ok);
    assert.equal(checked.value.maxTokens, 512);
    assert.equal(checked.value.temperature, 0.7);
    const custom = checkChatSendParams({ ...base, maxTokens: 8, temperature: 0, seed: 3 });
    assert.ok(custom.ok && custom.value.maxTokens === 8 && custom.value.temperature === 0 && custom.value.seed === 3);
  });

  it("says what is wrong", () => {
    const cases: [unknown, RegExp][] = [
      [null, /object/],
      [{ ...base, chatId: "" }, /chatId/],
      [{ ...base, text: "  " }, /text/],
      [{ ...base, history: "x" }, /history/],
      [{ ...base, history: [{ id: "h", role: "system", text: "x" }] }, /history\[0\]/],
      [{ ...base, maxTokens: 0 }, /maxTokens/],
      [{ ...base, maxTokens: 5000 }, /maxTokens/],
      [{ ...base, temperature: 3 }, /temperature/],
    ];
    for (const [params, pattern] of cases) {
      const checked = checkChatSendParams(params);
      assert.ok(!checked.ok, JSON.stringify(params));
      assert.match(checked.message, pattern);
    }
    assert.ok(!checkChatPinParams({ chatId: "c", messageId: "m", pinned: 1 }).ok);
    assert.ok(checkChatPinParams({ chatId: "c", messageId: "m", pinned: false }).ok);
    assert.deepEqual(checkChatResetParams(undefined), { ok: true, value: {} });
    assert.ok(!checkChatResetParams({ chatId: 5 }).ok);
  });
});

describe("template suffixes (one new turn of a chat template)", () => {
  const bos = { type: "specialToken" as const, value: "BOS" };
  const eot = { type: "specialTokensText" as const, value: "<|im_end|>" };

  it("is what the longer render adds after the shorter one, across special tokens", () => {
    assert.deepEqual(llamaTextSuffix([bos, "sys\n\n### Human\nx"], [bos, "sys\n\n### Human\nx\n\n### Assistant\n"]), [
      "\n\n### Assistant\n",
    ]);
    assert.deepEqual(llamaTextSuffix([bos, "a", eot, "b"], [bos, "a", eot, "bc", eot, "d"]), ["c", eot, "d"]);
    assert.deepEqual(llamaTextSuffix([bos, "ab"], [bos, "ab"]), []);
  });

  it("is undefined when the shorter render is not a prefix (a template that rewrites history)", () => {
    assert.equal(llamaTextSuffix([bos, "abc"], [bos, "abd"]), undefined);
    assert.equal(llamaTextSuffix([bos, "a", eot], [bos, "a", "<|im_end|>"]), undefined);
    assert.equal(llamaTextSuffix(["x"], [bos, "x"]), undefined);
  });

  it("finds the fixed preamble of two renders", () => {
    assert.deepEqual(llamaTextCommonPrefix([bos, "sys\nuser: \u0001"], [bos, "sys\nuser: \u0002"]), [bos, "sys\nuser: "]);
    assert.deepEqual(llamaTextCommonPrefix([bos, "a"], [eot, "a"]), []);
  });
});

describe("persisted chat history", () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(path.join(tmpdir(), "streamsink-chats-"));
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it("survives a restart: chats, messages, pins and an answer saved while it streamed", async () => {
    const store = await ChatStore.open(new FolderStorage(folder), { saveDelayMs: 10 });
    const chat = store.create();
    store.addMessage(chat.id, { id: "u1", role: "user", text: "Explain this\nplease", prompt: "```ts\nx\n```\n\nExplain this", attachments: ["a.ts:1-1"], status: "done", createdAt: 1 });
    store.addMessage(chat.id, { id: "a1", role: "assistant", text: "", status: "streaming", createdAt: 2 });
    store.appendText(chat.id, "a1", "It is ");
    store.appendText(chat.id, "a1", "a variable.");
    store.updateMessage(chat.id, "u1", { pinned: true });
    // Saved while streaming, without an explicit flush: wait for the coalesced write to reach the disk.
    const saved = path.join(folder, `${chat.id}.json`);
    await eventually(async () => ((await readFile(saved, "utf8").catch(() => "")).includes('"pinned":true') ? true : undefined), {
      what: "the chat's coalesced save",
    });
    const second = store.create(); // empty: never written
    void second;

    const reopened = await ChatStore.open(new FolderStorage(folder));
    assert.equal(reopened.list().length, 1, "the empty chat was not saved");
    const restored = reopened.get(chat.id);
    assert.ok(restored);
    assert.equal(restored.title, "Explain this");
    assert.equal(restored.messages.length, 2);
    assert.equal(restored.messages[0]!.pinned, true);
    assert.equal(restored.messages[0]!.prompt, "```ts\nx\n```\n\nExplain this");
    assert.equal(restored.messages[1]!.text, "It is a variable.");
    assert.equal(restored.messages[1]!.status, "cancelled", "an answer interrupted by a restart is marked, not lost");
  });

  it("keeps an unreadable file aside instead of failing or deleting it, and deletes chats on request", async () => {
    await writeFile(path.join(folder, "broken.json"), "{ not json");
    const store = await ChatStore.open(new FolderStorage(folder));
    assert.equal(store.problems.length, 1);
    assert.match(store.problems[0]!, /broken\.json/);
    const files = await readdir(folder);
    assert.ok(files.some((name) => name.startsWith("broken.json.unreadable-")), files.join(", "));
    const [first] = store.list();
    assert.ok(first);
    await store.remove(first.id);
    assert.equal((await ChatStore.open(new FolderStorage(folder))).list().length, 0);
  });

  it("titles a chat from its first line", () => {
    assert.equal(titleFrom("  \n"), "New chat");
    assert.equal(titleFrom("How do I\nsort a list?"), "How do I");
    assert.equal(titleFrom("x".repeat(80)).length, 58);
  });
});
