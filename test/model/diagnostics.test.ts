// Cache diagnostics through the real server process: the snapshot of a real chat that overflowed its
// context (sinks with their text, evictions, shifts), process and model figures, the memory budget,
// the status bar's KV fill notification, cache resets — and the failure paths (unknown cache, no
// model). Plus a cross-check of the KV-bytes formula against llama.cpp's own allocation report.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ChatSendRequest,
  DiagnosticsRequest,
  ErrorCodes,
  KvFillNotification,
  ResetCacheRequest,
  type DiagnosticsSnapshot,
  type KvFill,
} from "../../common/protocol";
import { kvCacheBytes, modelShapeFromMetadata } from "../../server/memoryBudget";
import { models } from "../support/paths";
import { startServer, testSettings, type ServerHandle } from "../support/serverProcess";
import { eventually } from "../support/eventually";

const MiB = 1024 * 1024;

describe("KV bytes formula", () => {
  it("matches the KV cache llama.cpp allocates (its own log line)", async () => {
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    const lines: string[] = [];
    const llama = await getLlama({
      gpu: false,
      build: "never",
      logLevel: LlamaLogLevel.info,
      logger: (_level, message) => lines.push(message),
    });
    const model = await llama.loadModel({ modelPath: models.tinycoderQ8 });
    const context = await model.createContext({ contextSize: 512, threads: 1 });
    try {
      // llama.cpp's log reaches JavaScript through a thread-safe callback, so the line can arrive
      // after createContext() resolves (it did on a loaded CI machine): wait for it, briefly.
      const isKvLine = (text: string) => /llama_kv_cache.*size =/.test(text);
      const line = await eventually(() => lines.find(isKvLine), { timeoutMs: 10_000, what: "llama.cpp's KV cache line" }).catch(() => undefined);
      assert.ok(line, `llama.cpp reported its KV cache: ${lines.filter((l) => /kv/i.test(l)).join(" | ")}`);
      const reported = Number(/size =\s*([\d.]+) MiB/.exec(line)?.[1]);
      const shape = modelShapeFromMetadata(model.fileInfo.metadata as unknown as Record<string, unknown>);
      const ours = kvCacheBytes(shape, context.contextSize);
      assert.equal((ours / MiB).toFixed(2), reported.toFixed(2), `${line.trim()} vs ${ours} bytes`);
    } finally {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    }
  });
});

describe("diagnostics with a real model and a real chat", () => {
  let server: ServerHandle;
  const fills: KvFill[][] = [];
  const diagnostics = () => server.connection.sendRequest(DiagnosticsRequest.type, {});

  before(async () => {
    server = await startServer(testSettings({ path: models.tinycoderQ8, context: { size: 256, sinkTokens: 4 } }));
    server.connection.onNotification(KvFillNotification.type, (update: KvFill[]) => {
      fills.push(update);
    });
    await server.ready();
  });
  after(async () => {
    await server.stop();
  });

  it("reports the process, the model and the memory guarantee", async () => {
    const snapshot = await diagnostics();
    assert.equal(snapshot.status.state, "ready");
    assert.equal(snapshot.process.backend, "cpu");
    assert.equal(snapshot.process.threads, testSettings().threads, "the threads the client asked for");
    assert.equal(snapshot.process.vram, undefined, "no VRAM figures on the CPU backend");
    assert.ok(snapshot.process.ram.total > snapshot.process.ram.free && snapshot.process.ram.free > 0);
    assert.ok(snapshot.process.rssBytes > 10 * MiB, `rss ${snapshot.process.rssBytes}`);
    const model = snapshot.model;
    assert.ok(model);
    assert.equal(model.name, "tinycoder-16m-q8_0");
    assert.equal(model.architecture, "llama");
    assert.equal(model.layers, 8);
    assert.equal(model.headCount, 6);
    assert.equal(model.headCountKv, 2);
    assert.equal(model.headDimK, 64);
    assert.equal(model.trainedContextSize, 512);
    assert.match(model.quantization, /Q8_0/);
    assert.match(model.parametersText, /^1[56](\.\d)?M$/);
    assert.equal(model.canShift, true);
    const budget = snapshot.process.budget;
    assert.ok(budget, "the budget computed before loading is shown");
    assert.equal(budget.contextSize, 256);
    assert.equal(budget.contexts, 2);
    assert.equal(budget.kvBytesPerContext, 8 * 2 * 64 * 256 * 2 * 2);
    assert.equal(budget.fits, true);
    assert.ok(budget.neverExceedsBytes >= budget.modelBytes + 2 * budget.kvBytesPerContext);
  });

  it("shows a chat that overflowed: sinks and their text, evictions, shifts; the status bar fill follows", async () => {
    let snapshot: DiagnosticsSnapshot | undefined;
    // Long prompts and short answers: ingesting is much cheaper than generating on 2 cores.
    const code = "def add(a, b):\n    return a + b\n\n\nclass Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        self.items.append(item)\n";
    const prompts = [`Review this:\n${code}`, `And this:\n${code.replace(/add/g, "sub")}`, `Last one:\n${code.replace(/Stack/g, "Queue")}`];
    for (let turn = 0; turn < 8; turn++) {
      await server.connection.sendRequest(ChatSendRequest.type, {
        chatId: "diagnostics",
        userMessageId: `u${turn}`,
        assistantMessageId: `a${turn}`,
        text: prompts[turn % prompts.length] ?? "",
        history: [],
        maxTokens: 8,
        temperature: 0,
      });
      snapshot = await diagnostics();
      if ((snapshot.sequences.find((s) => s.label === "chat")?.shifts ?? 0) > 0) break;
    }
    const chat = snapshot?.sequences.find((s) => s.label === "chat");
    assert.ok(chat, `a chat sequence: ${JSON.stringify(snapshot?.sequences)}`);
    assert.equal(chat.contextSize, 256);
    assert.ok(chat.shifts > 0 && chat.tokensEvicted > 0, `evicted ${chat.tokensEvicted} in ${chat.shifts} shifts`);
    assert.ok(chat.tokensSeen >= chat.kvCells + chat.tokensEvicted, `seen ${chat.tokensSeen}`);
    assert.ok(chat.kvCells <= chat.contextSize - 1);
    assert.equal(chat.kvCells, chat.sinks + chat.windowTokens);
    assert.ok(chat.sinks > 0);
    assert.equal(chat.sinkText.length, chat.sinkTokens.length);
    assert.ok(chat.sinkText.join("").length > 0, "sink tokens have text");
    assert.ok(chat.generationTokensPerSecond > 0);
    // The status bar's fill arrives by notification (checked once a second, sent on change).
    const chatFill = () => fills.at(-1)?.find((fill) => fill.label === "chat");
    await eventually(() => (chatFill()?.kvCells === chat.kvCells ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 }).catch(() => undefined);
    const last = chatFill();
    assert.deepEqual(last, { label: "chat", kvCells: chat.kvCells, contextSize: 256, sinks: chat.sinks });
    assert.ok(snapshot && snapshot.process.kvCache && snapshot.process.kvCache.bytes >= kvCacheBytes({ layers: 8, headCount: 6, headCountKv: 2, embeddingLength: 384 }, 256));
  });

  it("resets the chat cache, and explains an unknown or malformed cache name", async () => {
    const result = await server.connection.sendRequest(ResetCacheRequest.type, { label: "chat" });
    assert.match(result.message, /Cleared the chat KV cache \(\d+ cells were in use\)/);
    const after = (await diagnostics()).sequences.find((s) => s.label === "chat");
    assert.ok(after === undefined || after.kvCells === 0, `after reset: ${JSON.stringify(after)}`);
    await assert.rejects(
      server.connection.sendRequest(ResetCacheRequest.type, { label: "embeddings" }),
      (error: { code: number; message: string }) => error.code === ErrorCodes.invalidParams && /no embeddings sequence/.test(error.message),
    );
    await assert.rejects(
      server.connection.sendRequest(ResetCacheRequest.method, { label: 42 }),
      (error: { code: number }) => error.code === ErrorCodes.invalidParams,
    );
  });

  it("a larger context goes through the memory guarantee again: the budget shown follows the setting", async () => {
    await server.configure(testSettings({ path: models.tinycoderQ8, context: { size: 512, sinkTokens: 4 } }));
    await server.waitForStatus((s) => s.state === "loading");
    await server.ready();
    const budget = (await diagnostics()).process.budget;
    assert.ok(budget);
    assert.equal(budget.contextSize, 512);
    assert.equal(budget.kvBytesPerContext, 8 * 2 * 64 * 512 * 2 * 2);
  });

  it("still answers without a model: the status says why; resets say there is no model", async () => {
    await server.configure(testSettings({ path: "" }));
    await server.waitForStatus((s) => s.state === "noModel");
    const snapshot = await diagnostics();
    assert.equal(snapshot.status.state, "noModel");
    assert.match(snapshot.status.message, /streamsink\.model\.path/);
    assert.equal(snapshot.model, undefined);
    assert.ok(snapshot.process.rssBytes > 0);
    await assert.rejects(
      server.connection.sendRequest(ResetCacheRequest.type, { label: "completion" }),
      (error: { code: number; message: string }) => error.code === ErrorCodes.modelNotReady && /No model is loaded/.test(error.message),
    );
    assert.equal(server.process.exitCode, null);
  });
});
