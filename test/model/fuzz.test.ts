// Bad input never crashes the server: 1,000 malformed requests and notifications to every
// streamsink/* method in common/protocol/ (found at run time, so messages added later are covered),
// unknown methods and raw JSON-RPC-shaped junk, through the real server process with a real model;
// then absurd settings sent raw through the configure notification, and a 5 MB prompt.
// "0 crashes" = the process is alive, nothing reached the process-level uncaught handlers, every
// request was answered (no hang), no answer leaked a JavaScript TypeError from unvalidated params,
// and the server still answers a valid request afterwards.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RequestType } from "vscode-languageserver-protocol";
import * as protocol from "../../common/protocol";
import { ChatSendRequest, ConfigureNotification, ErrorCodes, GenerateRequest } from "../../common/protocol";
import { models } from "../support/paths";
import { startReadyServer, testSettings, type ServerHandle } from "../support/serverProcess";
import { prng } from "../support/random";

interface MessageNamespace {
  method: string;
  type: unknown;
}

/** Every protocol namespace with a streamsink/* method, found at run time. */
function protocolMessages(): { method: string; isRequest: boolean }[] {
  const found: { method: string; isRequest: boolean }[] = [];
  for (const value of [...Object.values(protocol), ...Object.values(protocol.bench)] as unknown[]) {
    if (typeof value !== "object" || value === null) continue;
    const ns = value as Partial<MessageNamespace>;
    if (typeof ns.method !== "string" || !ns.method.startsWith("streamsink/")) continue;
    found.push({ method: ns.method, isRequest: ns.type instanceof RequestType });
  }
  return found;
}


const seed = 20_261_123;
const random = prng(seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const hugeString = "x".repeat(2_000_000);
const strings = [
  "",
  " ",
  "a",
  "\u0000\u0001\u0002",
  "\ud800", // lone surrogate
  "🙂".repeat(1000),
  "<script>alert(1)</script>",
  "%s%n%x",
  "../../../../etc/passwd",
  "__proto__",
  "chat",
  "completion",
  "streamsink/generate",
  "\n".repeat(5000),
  hugeString,
];
const numbers = [0, -1, 1, -0, 0.5, 1e308, -1e308, 2 ** 53, -(2 ** 31), 4097, 4096, 65_536, Number.NaN, Number.POSITIVE_INFINITY];
// Field names the protocol uses, so junk objects also reach the validation of real fields.
const keys = [
  "prompt",
  "maxTokens",
  "temperature",
  "seed",
  "chatId",
  "userMessageId",
  "assistantMessageId",
  "messageId",
  "text",
  "history",
  "role",
  "pinned",
  "label",
  "uri",
  "directory",
  "sha256",
  "downloadId",
  "uri",
  "position",
  "textDocument",
  "prefix",
  "suffix",
  "__proto__",
  "constructor",
  "toString",
];

function junk(depth = 0): unknown {
  const roll = random();
  if (depth > 3 || roll < 0.15) return pick(numbers);
  if (roll < 0.3) return pick(strings);
  if (roll < 0.35) return pick([null, true, false, undefined]);
  if (roll < 0.45) return Array.from({ length: Math.floor(random() * 5) }, () => junk(depth + 1));
  if (roll < 0.5) {
    // Deeply nested junk.
    let nested: unknown = pick(strings.slice(0, 5));
    for (let i = 0; i < 200; i++) nested = random() < 0.5 ? [nested] : { a: nested };
    return nested;
  }
  const object: Record<string, unknown> = {};
  const count = 1 + Math.floor(random() * 6);
  for (let i = 0; i < count; i++) object[pick(keys)] = junk(depth + 1);
  return object;
}

/**
 * JSON-RPC-shaped messages that are not valid requests, notifications or responses, written straight
 * to the IPC channel. Their ids are strings so they never collide with the test connection's own.
 */
const rawEnvelopes: unknown[] = [
  {},
  { jsonrpc: "2.0" },
  { jsonrpc: "2.0", id: "raw-1" },
  { jsonrpc: "1.0", id: "raw-2", method: "streamsink/generate", params: { prompt: "x", maxTokens: 1 } },
  { jsonrpc: "2.0", id: {}, method: "streamsink/generate", params: {} },
  { jsonrpc: "2.0", id: [1], method: "streamsink/generate" },
  { jsonrpc: "2.0", id: "raw-3", method: 42 },
  { jsonrpc: "2.0", id: "raw-4", method: null, params: null },
  { jsonrpc: "2.0", method: { nested: true } },
  { jsonrpc: "2.0", id: "raw-5", method: "streamsink/generate", params: "a string" },
  { jsonrpc: "2.0", id: "raw-6", method: "streamsink/generate", params: 123 },
  { jsonrpc: "2.0", id: "raw-7", method: "streamsink/generate", params: [1, 2, 3] },
  { jsonrpc: "2.0", id: "raw-999_999", result: { fake: "response to nothing" } },
  { jsonrpc: "2.0", id: "raw-999_998", error: { code: "x", message: 5 } },
  { jsonrpc: "2.0", id: null, error: null },
  { jsonrpc: "2.0", method: "$/cancelRequest", params: { id: { evil: true } } },
  { jsonrpc: "2.0", method: "$/cancelRequest", params: null },
  { jsonrpc: "2.0", method: "$/cancelRequest" },
  { jsonrpc: "2.0", method: "$/setTrace", params: { value: 42 } },
  { jsonrpc: "2.0", method: "$/progress", params: { token: {}, value: "junk" } },
  { jsonrpc: "2.0", method: "textDocument/didOpen", params: { textDocument: 5 } },
  { jsonrpc: "2.0", method: "textDocument/didChange", params: { textDocument: { uri: "file:///nope" }, contentChanges: "x" } },
  { jsonrpc: "2.0", method: "textDocument/didClose", params: {} },
  { jsonrpc: "2.0", id: "raw-8", method: "textDocument/inlineCompletion", params: { textDocument: null, position: "here" } },
  { jsonrpc: "2.0", id: "raw-9", method: "initialize", params: { initializationOptions: "again" } },
  { jsonrpc: "2.0", method: "workspace/didChangeConfiguration", params: { settings: [[[]]] } },
  "a bare string",
  12_345,
  [1, 2, 3],
  [{ jsonrpc: "2.0", id: "raw-10", method: "streamsink/generate" }],
  true,
];

/** A request's outcome: answered with a result, or with a JSON-RPC error. */
interface Outcome {
  method: string;
  code?: number;
  message?: string;
}

/** Messages that mean a handler used unvalidated params (a bug even when the process survives). */
const leakedTypeError = /Cannot read propert|is not a function|is not iterable|Cannot convert|undefined is not|null is not/;

let server: ServerHandle;

function crashLogs(): string[] {
  return server.logs
    .filter((entry) => /Uncaught exception|Unhandled rejection/.test(entry.message))
    .map((entry) => entry.message);
}

function assertAlive(): void {
  assert.equal(server.process.exitCode, null, "the server process is still running");
  assert.equal(server.process.signalCode, null, "the server process was not killed");
  assert.deepEqual(crashLogs(), [], "nothing reached the process-level crash handlers");
}

async function assertServes(): Promise<void> {
  const result = await server.connection.sendRequest(GenerateRequest.type, { prompt: "def add(a, b):\n", maxTokens: 4 });
  assert.ok(result.generatedTokens > 0, "the server still answers a valid request");
}

before(async () => {
  server = await startReadyServer(testSettings({ path: models.tinycoderQ8 }));
});
after(async () => {
  await server?.stop();
});

describe(`fuzzing the protocol (seed ${seed})`, () => {
  it("answers 1,000 malformed requests and notifications without a crash", async (t) => {
    const messages = [
      ...protocolMessages().filter((message) => message.method !== ConfigureNotification.method),
      // Standard LSP messages the features handle (inline completions, document sync).
      { method: "textDocument/inlineCompletion", isRequest: true },
      { method: "textDocument/didOpen", isRequest: false },
      { method: "textDocument/didChange", isRequest: false },
    ];
    assert.ok(messages.length >= 3, `found the protocol's messages: ${messages.map((m) => m.method).join(", ")}`);
    const unknownMethods = ["streamsink/doesNotExist", "streamsink/", "streamsink/chat/../generate", "$/streamsink", "foo"];
    const outcomes: Outcome[] = [];
    const pending: Promise<void>[] = [];
    let sent = 0;
    for (const envelope of rawEnvelopes) {
      server.process.send(envelope as object);
      sent++;
    }
    while (sent < 1000) {
      const roll = random();
      const target = roll < 0.9 ? pick(messages) : { method: pick(unknownMethods), isRequest: random() < 0.5 };
      // Sometimes a request is sent as a notification and the other way round.
      const asRequest = random() < 0.1 ? !target.isRequest : target.isRequest;
      const params = random() < 0.1 ? undefined : junk();
      sent++;
      if (!asRequest) {
        if (params === undefined) await server.connection.sendNotification(target.method);
        else await server.connection.sendNotification(target.method, params);
        continue;
      }
      const request =
        params === undefined
          ? server.connection.sendRequest(target.method)
          : server.connection.sendRequest(target.method, params);
      pending.push(
        request.then(
          () => void outcomes.push({ method: target.method }),
          (error: { code?: number; message?: string }) =>
            void outcomes.push({ method: target.method, code: error.code, message: error.message }),
        ),
      );
      // Keep a bounded number in flight (the server answers them one by one).
      if (pending.length >= 50) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    assert.equal(sent, 1000);
    assert.ok(outcomes.length > 500, `${outcomes.length} requests answered`);
    for (const outcome of outcomes) {
      if (outcome.code === undefined) continue;
      assert.equal(typeof outcome.message, "string", `${outcome.method}: the error has a message`);
      assert.ok(outcome.message!.length > 0, `${outcome.method}: the error message is not empty`);
      assert.doesNotMatch(outcome.message!, leakedTypeError, `${outcome.method} leaked an unvalidated-params bug`);
    }
    const byCode = new Map<string, number>();
    for (const outcome of outcomes) {
      const key = `${outcome.method} → ${outcome.code ?? "result"}`;
      byCode.set(key, (byCode.get(key) ?? 0) + 1);
    }
    t.diagnostic(`methods: ${messages.map((m) => m.method).join(", ")}`);
    t.diagnostic(`answers: ${[...byCode].map(([key, count]) => `${key} ×${count}`).join("; ")}`);
    const invalidParams = outcomes.filter((outcome) => outcome.code === ErrorCodes.invalidParams).length;
    assert.ok(invalidParams > 0, "malformed params were answered with invalidParams errors");
    assertAlive();
    await assertServes();
    assertAlive();
  });
});

describe("absurd settings sent raw through the configure notification", () => {
  it("warns clearly about each bad value, never crashes, and recovers with valid settings", async () => {
    const valid = testSettings({ path: models.tinycoderQ8 });
    const absurd = {
      ...valid,
      context: { size: 0, sinkTokens: 1_000_000, shiftSize: -5 },
      threads: -4,
      model: { ...valid.model, gpuLayers: "lots", backend: "quantum" },
      logLevel: 7,
    };
    const logsBefore = server.logs.length;
    await server.configure(absurd as never);
    await server.ready({ what: "the model still runs with the bounded settings" });
    const warnings = server.logs.slice(logsBefore).map((entry) => entry.message).join("\n");
    assert.match(warnings, /streamsink\.context\.size = 0 is outside 256\.\.\d+; using 256/);
    assert.match(warnings, /streamsink\.context\.sinkTokens = 1000000 .*using/);
    assert.match(warnings, /streamsink\.context\.shiftSize = -5 is outside/);
    assert.match(warnings, /streamsink\.threads = -4 is outside 1\.\.\d+; using 1/);
    assert.match(warnings, /streamsink\.model\.backend must be one of/);
    await assertServes();

    // Settings that are not even objects.
    for (const payload of [null, "settings", 42, [], [valid], { context: "big" }, { model: { path: 5 } }]) {
      await server.connection.sendNotification(ConfigureNotification.method, payload);
    }
    await server.configure(valid);
    await server.ready();
    assertAlive();
    await assertServes();
  });
});

describe("a 5 MB prompt", () => {
  // (A prompt under the 1,000,000-character limit is answered, bounded: LlamaCompletion keeps the
  // end that fits the context; a 990,000-character prompt took 16 s on 2 cores, mostly tokenizing.)
  it("gets a clear error naming the limit (generate and chat), and the server keeps serving", async () => {
    const prompt = "def f():\n    return 1\n".repeat(Math.ceil(5_000_000 / 22));
    assert.ok(prompt.length >= 5_000_000);
    await assert.rejects(
      server.connection.sendRequest(GenerateRequest.type, { prompt, maxTokens: 8 }),
      (error: { code: number; message: string }) =>
        error.code === ErrorCodes.invalidParams && /prompt: string of at most 1,000,000 characters/.test(error.message),
    );
    await assert.rejects(
      server.connection.sendRequest(ChatSendRequest.type, {
        chatId: "fuzz",
        userMessageId: "u1",
        assistantMessageId: "a1",
        text: prompt,
        history: [],
      }),
      (error: { code: number; message: string }) =>
        error.code === ErrorCodes.invalidParams && /text must be .* at most \d+ characters/.test(error.message),
    );
    assertAlive();
    await assertServes();
  });
});
