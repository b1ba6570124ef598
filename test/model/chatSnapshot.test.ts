// Resuming an endless chat instantly, through the real server process (dist/server.js over IPC) on
// stories260K: the chat's KV state is snapshotted to the storage folder after every answer; after a
// kill -9 mid-answer a new server process loads it back (the same tokens, nothing evaluated) while the
// transcript the client store persisted as it streamed is intact; after a clean restart (a window
// reload) the next answer evaluates only its own turn. A snapshot made with other engine settings
// or another model is ignored with a note, never loaded, and the chat still works (rebuilt from text).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  ChatOpenRequest,
  ChatSendRequest,
  bench,
  ChatTokenNotification,
  ChatWindowNotification,
  DiagnosticsRequest,
  KvFillNotification,
  type ChatWindowState,
  type KvFill,
  type ChatHistoryMessage,
  type ChatSendResult,
  type ServerConfiguration,
} from "../../common/protocol";
import { outsideIds } from "../../common/chatWindow";
import type { SnapshotMeta } from "../../server/kv/snapshot";
import { ChatStore, FolderStorage, newId, type StoredChat } from "../../src/chat/store";
import { models } from "../support/paths";
import { eventually } from "../support/eventually";
import { startReadyServer, testSettings, type ServerHandle } from "../support/serverProcess";

let scratch: string;
let kvDir: string;
let chatsDir: string;

function configuration(overrides: Parameters<typeof testSettings>[0] = {}): ServerConfiguration {
  return { ...testSettings({ path: models.stories, context: { size: 512 }, ...overrides }), threads: 1, storagePath: kvDir };
}

async function startReady(settings: ServerConfiguration): Promise<ServerHandle> {
  const server = await startReadyServer(settings);
  // A killed server's channel closes: fail what is in flight instead of leaving it pending (as the
  // language client does).
  server.connection.onClose(() => server.connection.dispose());
  return server;
}

/** What src/chat/chatView.ts sends as history: the stored messages as the model saw them. */
function historyOf(chat: StoredChat): ChatHistoryMessage[] {
  return chat.messages
    .filter((m) => m.role === "user" || m.text !== "")
    .map((m) => ({ id: m.id, role: m.role, text: m.prompt ?? m.text, ...(m.pinned ? { pinned: true } : {}) }));
}

/**
 * One chat turn the way the chat view does it: both messages are stored first, the answer's text is
 * appended to the store as it streams, the final state is written when the request ends.
 */
async function chatTurn(
  server: ServerHandle,
  store: ChatStore,
  chatId: string,
  text: string,
  options: { maxTokens?: number; onDelta?: (received: string) => void } = {},
): Promise<{ result?: ChatSendResult; error?: Error; assistantId: string }> {
  const history = historyOf(store.get(chatId)!);
  const userId = newId("u");
  const assistantId = newId("a");
  store.addMessage(chatId, { id: userId, role: "user", text, status: "done", createdAt: Date.now() });
  store.addMessage(chatId, { id: assistantId, role: "assistant", text: "", status: "streaming", createdAt: Date.now() });
  let received = "";
  const listener = server.connection.onNotification(ChatTokenNotification.type, (token) => {
    if (token.assistantMessageId !== assistantId) return;
    received += token.delta;
    store.appendText(chatId, assistantId, token.delta);
    options.onDelta?.(received);
  });
  try {
    const result = await server.connection.sendRequest(ChatSendRequest.type, {
      chatId,
      userMessageId: userId,
      assistantMessageId: assistantId,
      text,
      history,
      maxTokens: options.maxTokens ?? 24,
      temperature: 0,
    });
    store.updateMessage(chatId, assistantId, { text: result.text, status: result.stopReason === "cancelled" ? "cancelled" : "done" });
    return { result, assistantId };
  } catch (error) {
    store.updateMessage(chatId, assistantId, { status: "error", error: (error as Error).message });
    return { error: error as Error, assistantId };
  } finally {
    listener.dispose();
    await store.flush();
  }
}

async function readSnapshot(): Promise<SnapshotMeta> {
  return JSON.parse(await readFile(path.join(kvDir, "chat.json"), "utf8")) as SnapshotMeta;
}

const sha256 = (tokens: readonly number[]) => createHash("sha256").update(JSON.stringify(tokens)).digest("hex");

const prompts = [
  "Tell me a story about a cat.",
  "What did the cat do next?",
  "And then?",
  "Who was her friend?",
  "Where did they go?",
  "What happened at the park?",
];

before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "streamsink-chat-snapshot-"));
  kvDir = path.join(scratch, "kv");
  chatsDir = path.join(scratch, "chats");
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("chat KV snapshots across server processes (stories260K, 512-token context)", () => {
  let store: ChatStore;
  let chatId: string;
  const servers: ServerHandle[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
  });

  it("kill -9 mid-answer → a new server loads the last snapshot without evaluating it; the transcript is intact", async () => {
    const first = await startReady(configuration());
    servers.push(first);
    store = await ChatStore.open(new FolderStorage(chatsDir), { saveDelayMs: 20 });
    chatId = store.create().id;
    // Past the 512-token context, so the snapshot holds a window that has been evicted and shifted.
    let last: ChatSendResult | undefined;
    for (let turn = 0; turn < 40 && (last?.stats.shifts ?? 0) < 2; turn++) {
      const { result, error } = await chatTurn(first, store, chatId, prompts[turn % prompts.length]!, { maxTokens: 48 });
      assert.ok(result, `turn ${turn} failed: ${error?.message}`);
      last = result;
    }
    assert.ok(last && last.stats.shifts >= 2, "the window shifted before the crash");

    // The next answer: killed after its first streamed text.
    const killed = await chatTurn(first, store, chatId, "Tell me more about the dog.", {
      maxTokens: 400,
      onDelta: () => {
        if (first.process.exitCode === null && first.process.signalCode === null) first.process.kill("SIGKILL");
      },
    });
    assert.ok(killed.error, "the in-flight answer failed with the process");
    await new Promise<void>((resolve) => (first.process.exitCode !== null || first.process.signalCode !== null ? resolve() : first.process.once("exit", () => resolve())));
    assert.equal(first.process.signalCode, "SIGKILL");

    // The transcript as a reloaded window reads it back: every message, the interrupted answer with
    // the text that had streamed.
    const before = store.get(chatId)!;
    const reopened = await ChatStore.open(new FolderStorage(chatsDir));
    store = reopened; // the reloaded window goes on with what it read back
    const transcript = reopened.get(chatId)!;
    assert.deepEqual(
      transcript.messages.map((m) => [m.id, m.role, m.text]),
      before.messages.map((m) => [m.id, m.role, m.text]),
    );
    const interrupted = transcript.messages.at(-1)!;
    assert.equal(interrupted.id, killed.assistantId);
    assert.ok(interrupted.text.length > 0, "the text streamed before the crash was persisted");
    assert.notEqual(interrupted.status, "done");

    // The snapshot on disk is the one saved after the last completed answer.
    const meta = await readSnapshot();
    assert.equal(meta.owner?.chatId, chatId);
    assert.equal(meta.tokens.length, last.stats.kvCells);
    assert.deepEqual(
      (await readdir(kvDir)).filter((f) => !f.endsWith(".tmp")).sort(),
      ["chat.json", meta.stateFile].sort(),
      "one snapshot is kept",
    );

    const second = await startReady(configuration());
    servers.push(second);
    const { result, error } = await chatTurn(second, reopened, chatId, "What did the dog say?");
    assert.ok(result, error?.message);
    const restore = result.restore!;
    assert.equal(restore.source, "snapshot", restore.note);
    assert.equal(restore.snapshotTokens, meta.tokens.length);
    assert.equal(restore.tokensSha256, sha256(meta.tokens), "the restored sequence holds exactly the snapshot's tokens");
    assert.deepEqual(restore.loadMeter, { input: 0, output: 0 }, "loading evaluated nothing");
    assert.equal(restore.streamTokens, last.stats.tokensSeen, "the stream continues where the snapshot left it");
    // Only what the snapshot could not have — the interrupted turn — and the new turn were evaluated.
    assert.ok(restore.evaluatedTokens > 0, "the interrupted turn (newer than the snapshot) was appended");
    assert.equal(result.restoredTokens, restore.evaluatedTokens);
    assert.equal(result.decodedTokens, result.stats.tokensSeen - restore.streamTokens, "every evaluated token is a new one");
    assert.ok(result.decodedTokens <= restore.evaluatedTokens + result.promptTokens + result.generatedTokens + 1);
    assert.equal(result.stats.reevaluatedTokens, 0);
    assert.equal(result.stats.shifts >= last.stats.shifts, true, "the accounting carried over");
    // The messages the saved window held are still seen by the model.
    const lastAnswer = before.messages.at(-3)!;
    assert.ok(!outsideIds(result.window, before.messages.map((message) => message.id)).has(lastAnswer.id));
    assert.ok(second.logs.some((l) => /resumed from its KV snapshot/.test(l.message)));
    const state = await second.connection.sendRequest(bench.ChatStateRequest.type, {});
    assert.equal(state.restore?.source, "snapshot");
  });

  it("a clean restart (window reload): the next answer evaluates only its own turn", async () => {
    const previous = servers.pop()!;
    const before = (await previous.connection.sendRequest(bench.ChatStateRequest.type, {})).stats!;
    await previous.stop(); // shutdown waits for the snapshot of the last answer
    const meta = await readSnapshot();
    assert.equal(meta.tokens.length, before.kvCells);

    const server = await startReady(configuration());
    servers.push(server);
    const { result, error } = await chatTurn(server, store, chatId, "Say goodbye.");
    assert.ok(result, error?.message);
    assert.equal(result.restore?.source, "snapshot", result.restore?.note);
    assert.equal(result.restore?.tokensSha256, sha256(meta.tokens));
    assert.deepEqual(result.restore?.loadMeter, { input: 0, output: 0 });
    assert.equal(result.restoredTokens, 0, "no stored message needed evaluating");
    assert.equal(result.restore?.streamTokens, before.tokensSeen);
    assert.equal(result.decodedTokens, result.stats.tokensSeen - before.tokensSeen);
    assert.ok(
      result.decodedTokens >= result.promptTokens && result.decodedTokens <= result.promptTokens + result.generatedTokens + 1,
      `evaluated ${result.decodedTokens} tokens for a ${result.promptTokens}-token turn and a ${result.generatedTokens}-token answer`,
    );
    servers.pop();
    await server.stop();
  });

  it("a reload with the chat shown: ChatOpenRequest loads its snapshot at once (meter, status-bar fill, diagnostics) without evaluating", async () => {
    const meta = await readSnapshot();
    const server = await startReady(configuration());
    servers.push(server);
    const windows: ChatWindowState[] = [];
    const fills: KvFill[][] = [];
    server.connection.onNotification(ChatWindowNotification.type, (window) => void windows.push(window));
    server.connection.onNotification(KvFillNotification.type, (fill) => void fills.push(fill));
    const history = historyOf(store.get(chatId)!);

    // Another chat has no snapshot: nothing is loaded, nothing is rebuilt from text.
    const other = await server.connection.sendRequest(ChatOpenRequest.type, { chatId: "another-chat", history: [] });
    assert.equal(other.restored, false);
    assert.match(other.note ?? "", /No KV snapshot of this chat/);
    assert.equal((await server.connection.sendRequest(bench.ChatStateRequest.type, {})).chatId, undefined);

    const opened = await server.connection.sendRequest(ChatOpenRequest.type, { chatId, history });
    assert.equal(opened.restored, true, opened.note);
    assert.equal(opened.restore?.source, "snapshot");
    assert.equal(opened.restore?.tokensSha256, sha256(meta.tokens));
    assert.deepEqual(opened.restore?.loadMeter, { input: 0, output: 0 }, "loading evaluated nothing");
    assert.equal(opened.restore?.evaluatedTokens, 0);
    assert.equal(opened.window?.kvCells, meta.tokens.length);
    assert.ok((opened.window?.shifts ?? 0) >= 2, "the accounting carried over");
    await eventually(() => windows.find((w) => w.chatId === chatId), { what: "the chat's window notification" });
    // The status bar's fill and the diagnostics' chat card, before any new message.
    const fill = await eventually(() => fills.flat().find((f) => f.label === "chat"), { timeoutMs: 5000, what: "a KV fill for the chat" });
    assert.equal(fill.kvCells, meta.tokens.length);
    const diagnostics = await server.connection.sendRequest(DiagnosticsRequest.type, {});
    const card = diagnostics.sequences.find((sequence) => sequence.label === "chat");
    assert.equal(card?.kvCells, meta.tokens.length);
    assert.equal(card?.shifts, opened.window?.shifts);

    // Opening again is a no-op; the next message evaluates only its own turn.
    assert.equal((await server.connection.sendRequest(ChatOpenRequest.type, { chatId, history })).restored, true);
    const { result, error } = await chatTurn(server, store, chatId, "Say hello.");
    assert.ok(result, error?.message);
    assert.equal(result.restoredTokens, 0);
    assert.ok(result.decodedTokens <= result.promptTokens + result.generatedTokens + 1, `evaluated ${result.decodedTokens} tokens`);
    servers.pop();
    await server.stop();
  });

  it("ignores a snapshot made with other engine settings with a note, loads nothing, and the chat still works", async () => {
    const server = await startReady(configuration({ context: { size: 512, sinkTokens: 8 } }));
    servers.push(server);
    const { result, error } = await chatTurn(server, store, chatId, "Once more, please.");
    assert.ok(result, error?.message);
    assert.equal(result.restore?.source, "history");
    assert.match(result.restore?.note ?? "", /Ignored the saved chat KV snapshot: it was made with other engine settings \(sinks 4 → 8\)/);
    assert.equal(result.restore?.snapshotTokens, 0);
    assert.ok(result.restoredTokens > 0, "rebuilt from the stored messages");
    assert.equal(result.decodedTokens, result.stats.tokensSeen, "a fresh stream: everything in it was evaluated here");
    assert.ok(result.generatedTokens > 0);
    assert.ok(server.logs.some((l) => l.message.includes("other engine settings (sinks 4 → 8)")), "the note is in the log");
    servers.pop();
    await server.stop();
  });

  it("ignores a snapshot of another model with a note, and the chat still works", async () => {
    const server = await startReady(configuration({ path: models.tinycoderQ8 }));
    servers.push(server);
    const { result, error } = await chatTurn(server, store, chatId, "def add(a, b):");
    assert.ok(result, error?.message);
    assert.equal(result.restore?.source, "history");
    assert.match(result.restore?.note ?? "", /it was made with another model \(stories260K\.gguf/);
    assert.ok(result.generatedTokens > 0);
    assert.ok(server.logs.some((l) => l.message.includes("made with another model")));
  });
});
