// Inline completions through the real server process and the standard LSP messages
// (textDocument/didOpen, didChange, inlineCompletion), on tinycoder (FIM) and stories260K (no FIM).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import type { Llama, LlamaModel } from "node-llama-cpp";
import {
  CancellationTokenSource,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
} from "vscode-languageserver-protocol/node";
import { bench } from "../../common/protocol";
import type { Settings } from "../../common/settings";
import { unmatchedClosers, withoutCursorIndent } from "../../server/completion/stopRules";
import { models } from "../support/paths";
import { startServer, testSettings, type ServerHandle } from "../support/serverProcess";
import { prng as random } from "../support/random";
import { firstItem, positionAt } from "../support/inlineCompletion";

/** Test settings with completion overrides. One thread: on the shared 2-core machine a 2-thread
 * context was measured 20-30x slower than 1 thread whenever other processes use the CPU. */
function settingsWith(completions: Partial<Settings["completions"]>, base = testSettings({ path: models.tinycoderQ8 })): Settings {
  return { ...base, threads: 1, completions: { ...base.completions, ...completions } };
}




function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** A document the test edits, mirrored to the server with full-text didChange notifications. */
class Doc {
  version = 1;
  constructor(
    private readonly server: ServerHandle,
    readonly uri: string,
    public text: string,
    languageId = "python",
  ) {
    void server.connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId, version: this.version, text },
    });
  }

  async set(text: string): Promise<void> {
    this.text = text;
    this.version++;
    await this.server.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri: this.uri, version: this.version },
      contentChanges: [{ text }],
    });
  }

  async insert(offset: number, inserted: string): Promise<void> {
    await this.set(this.text.slice(0, offset) + inserted + this.text.slice(offset));
  }

  complete(offset: number, token?: CancellationTokenSource["token"]) {
    return this.server.connection.sendRequest(
      InlineCompletionRequest.type,
      {
        textDocument: { uri: this.uri },
        position: positionAt(this.text, offset),
        context: { triggerKind: InlineCompletionTriggerKind.Automatic },
      },
      token,
    );
  }
}

async function stats(server: ServerHandle, sinceId = 0): Promise<bench.CompletionStatsResult> {
  return server.connection.sendRequest(bench.CompletionStatsRequest.type, { sinceId });
}

/** Highest request id recorded (records are kept in completion order, not id order). */
function lastId(result: bench.CompletionStatsResult): number {
  return result.recent.reduce((max, record) => Math.max(max, record.id), 0);
}

async function lastRecord(server: ServerHandle): Promise<bench.CompletionRequestRecord> {
  const { recent } = await stats(server);
  const record = recent[recent.length - 1];
  assert.ok(record, "the server recorded the request");
  return record;
}

const python = `import os


def read_lines(path):
    with open(path) as handle:
        lines = handle.readlines()
    return [line.rstrip() for line in lines]


def count_words(path):
    total = 0
    for line in read_lines(path):
        `;
const pythonTail = `
    return total


def main():
    print(count_words(os.environ["FILE"]))
`;

describe("inline completions on tinycoder through the real server", () => {
  let server: ServerHandle;
  let llama: Llama;
  let vocab: LlamaModel;

  before(async () => {
    server = await startServer(settingsWith({}));
    await server.waitForStatus((status) => status.state === "ready");
    // The test's own tokenizer (same GGUF, vocabulary only) to compute what the server must evaluate.
    const { getLlama } = await import("node-llama-cpp"); // ESM with top-level await: no static import here
    llama = await getLlama({ gpu: false, build: "never" });
    vocab = await llama.loadModel({ modelPath: models.tinycoderQ8, vocabOnly: true });
  });
  after(async () => {
    await server.stop();
    await vocab.dispose();
    await llama.dispose();
  });

  it("FIM: the suggestion fits between the prefix and the suffix", async () => {
    const doc = new Doc(server, "file:///work/fim.py", python + pythonTail);
    const result = await doc.complete(python.length);
    const suggestion = firstItem(result);
    const record = await lastRecord(server);
    assert.equal(record.outcome, "completed");
    assert.equal(record.mode, "fim");
    assert.ok(suggestion !== undefined && suggestion.trim() !== "", `a suggestion, got ${JSON.stringify(result)}`);
    const lines = suggestion.split("\n");
    assert.ok(lines.length <= settingsWith({}).completions.maxLines);
    // It stays inside the loop body it was asked for and does not repeat the code after the cursor.
    for (const line of lines.slice(1)) assert.match(line, /^ {8,}\S|^\s*$/, `line inside the block: ${JSON.stringify(line)}`);
    assert.ok(!suggestion.includes("return total"), "does not repeat the suffix");
    const filled = python + suggestion + pythonTail;
    assert.equal(unmatchedClosers(suggestion), 0, "closes no bracket it did not open");
    const parse = spawnSync("python3", ["-c", "import ast, sys; ast.parse(sys.stdin.read())"], { input: filled });
    if (parse.error === undefined) {
      assert.equal(parse.status, 0, `the filled file parses as Python:\n${filled}\n${parse.stderr}`);
    }
  });

  it("reuse: after a keystroke only the changed tokens are evaluated (token meter)", async () => {
    const head = python.replace("        ", "        words = line.spl");
    const doc = new Doc(server, "file:///work/reuse.py", head + pythonTail);
    const fimIds = vocab.tokens.infill;
    const promptFor = (document: string, cursor: number) => {
      // When only indentation precedes the cursor, the prompt ends at the line start.
      const { text, offset } = withoutCursorIndent(document, cursor);
      return [
        ...(vocab.tokens.shouldPrependBosToken ? [vocab.tokens.bos!] : []),
        fimIds.prefix!,
        ...vocab.tokenize(text.slice(0, offset), false),
        fimIds.suffix!,
        ...vocab.tokenize(text.slice(offset), false),
        fimIds.middle!,
      ];
    };
    const first = firstItem(await doc.complete(head.length)) ?? "";
    const firstRecord = await lastRecord(server);
    assert.equal(firstRecord.outcome, "completed");
    const oldPrompt = promptFor(doc.text, head.length);
    assert.equal(firstRecord.promptTokens, oldPrompt.length, "the server's prompt is prefix + suffix in FIM form");

    const typed = first.startsWith("i") ? "x" : "i"; // not the suggestion's next character (no LRU hit)
    await doc.insert(head.length, typed);
    await doc.complete(head.length + 1);
    const record = await lastRecord(server);
    assert.equal(record.outcome, "completed");
    const newPrompt = promptFor(doc.text, head.length + 1);
    const common = commonPrefixLength(oldPrompt, newPrompt);
    const changed = newPrompt.length - common;
    assert.equal(record.promptTokens, newPrompt.length);
    assert.equal(record.reusedTokens, common, "the common prefix is kept in the KV cache");
    assert.equal(record.evaluatedTokens, changed, "only the changed tokens are evaluated");
    assert.equal(record.meterInputTokens, changed, "node-llama-cpp's token meter agrees");
    assert.ok(changed < newPrompt.length / 3, `${changed} of ${newPrompt.length} tokens evaluated`);
  });

  it("LRU: typing the start of a suggestion shows the rest without a model call", async () => {
    const doc = new Doc(server, "file:///work/lru.py", python + pythonTail);
    const suggestion = firstItem(await doc.complete(python.length));
    assert.ok(suggestion !== undefined && suggestion.length >= 3, `a suggestion to type into: ${suggestion}`);
    const before = await stats(server);
    await doc.insert(python.length, suggestion.slice(0, 2));
    const rest = firstItem(await doc.complete(python.length + 2));
    assert.equal(rest, suggestion.slice(2));
    const after = await stats(server, lastId(before));
    assert.equal(after.modelCalls, before.modelCalls, "no model call");
    assert.deepEqual(
      after.recent.map((record) => record.outcome),
      ["cacheHit"],
    );
  });

  it("an in-flight request is cancelled down to the sampler", async () => {
    await server.configure(settingsWith({ maxTokens: 400, maxLines: 100 }));
    // A list the model keeps extending line after line (no blank line, no dedent): a long generation.
    const doc = new Doc(server, "file:///work/cancel.py", "DATA = [\n    1,\n    2,\n    3,\n    4,\n    5,\n    ");
    const source = new CancellationTokenSource();
    const pending = doc.complete(doc.text.length, source.token).then(
      (value) => ({ value }),
      (error: { code?: number }) => ({ error }),
    );
    // Wait until the server reports tokens coming out of the sampler, then cancel.
    let active: bench.CompletionStatsResult["active"];
    for (let i = 0; i < 2000; i++) {
      active = (await stats(server)).active;
      if (active?.phase === "generating" && active.generatedTokens >= 2) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.ok(active?.phase === "generating", "the request reached the sampler");
    source.cancel();
    await pending;
    const record = (await stats(server)).recent.find((r) => r.id === active!.id);
    assert.equal(record?.outcome, "cancelled");
    assert.ok(record.generatedTokens >= 2 && record.generatedTokens < 400, `stopped after ${record.generatedTokens} tokens`);
    await server.configure(settingsWith({}));
  });

  it("a burst of 200 requests with random cancellations leaks no sequence and keeps memory flat", async (t) => {
    const rand = random(5);
    const doc = new Doc(server, "file:///work/burst.py", python + pythonTail);
    let cursor = python.length;
    const alphabet = "abcdefghijklmnopqrstuvwxyz_ (),.:=\n";
    let undispatched = 0;
    const runBurst = async (count: number) => {
      const settled: Promise<unknown>[] = [];
      for (let i = 0; i < count; i++) {
        const roll = rand();
        if (roll < 0.45) {
          const ch = alphabet[Math.floor(rand() * alphabet.length)]!;
          await doc.insert(cursor, ch === "\n" ? "\n        " : ch);
          cursor += ch === "\n" ? 9 : 1;
        } else if (roll < 0.6 && doc.text[cursor - 1] !== "\n") {
          await doc.set(doc.text.slice(0, cursor - 1) + doc.text.slice(cursor));
          cursor--;
        }
        const source = new CancellationTokenSource();
        settled.push(
          doc.complete(cursor, source.token).catch((error: { code?: number; message?: string }) => {
            // Cancelled while still queued in the connection: answered without reaching the handler.
            if (error.code === -32_800 && error.message === "Cancelled before it started.") undispatched++;
          }),
        );
        const fate = rand();
        if (fate < 0.35) source.cancel();
        else if (fate < 0.7) setTimeout(() => source.cancel(), Math.floor(rand() * 40));
        // Sometimes let the server work a little before the next "keystroke".
        if (rand() < 0.3) await new Promise((resolve) => setTimeout(resolve, Math.floor(rand() * 30)));
      }
      await Promise.all(settled);
    };
    await runBurst(40); // warm up allocators before measuring memory
    const before = await stats(server);
    undispatched = 0;
    await runBurst(200);
    const after = await stats(server, lastId(before));
    const outcomes = new Map<string, number>();
    for (const record of after.recent) outcomes.set(record.outcome, (outcomes.get(record.outcome) ?? 0) + 1);
    assert.equal(outcomes.get("error") ?? 0, 0, `no errors: ${JSON.stringify([...outcomes])}`);
    assert.equal(after.recent.length + undispatched, 200, "every request was answered: by the handler or as undispatched");
    assert.ok((outcomes.get("dropped") ?? 0) + (outcomes.get("cancelled") ?? 0) > 0, "stale requests were dropped");
    assert.equal(after.liveSequences, 1, "exactly the one completion sequence is alive");
    assert.equal(after.sequencesCreated, before.sequencesCreated, "no sequence was created (or leaked) by the burst");
    assert.ok(after.kv !== undefined && after.kv.kvCells < after.kv.contextSize, `KV bounded: ${JSON.stringify(after.kv)}`);
    const growth = after.rssBytes - before.rssBytes;
    t.diagnostic(`outcomes ${JSON.stringify(Object.fromEntries(outcomes))}, undispatched ${undispatched}, RSS ${(before.rssBytes / 1048576).toFixed(1)} → ${(after.rssBytes / 1048576).toFixed(1)} MiB`);
    assert.ok(growth < 48 * 1024 * 1024, `server RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
    // The sequence is still sound: the next request completes normally.
    const ok = await doc.complete(cursor);
    assert.ok(ok !== null, "the next request is answered");
    assert.equal((await lastRecord(server)).outcome, "completed");
  });

  it("completions switched off: answered empty, nothing reaches the model", async () => {
    await server.configure(settingsWith({ enable: false }));
    const doc = new Doc(server, "file:///work/off.py", python + pythonTail);
    const before = await stats(server);
    // Notifications and requests are handled in order: the settings apply before the request.
    const result = await doc.complete(python.length);
    assert.equal(result, null);
    assert.equal((await lastRecord(server)).outcome, "skipped");
    await server.configure(settingsWith({}));
    assert.ok((await stats(server)).modelCalls >= before.modelCalls);
  });
});

describe("inline completions without FIM tokens (stories260K)", () => {
  let server: ServerHandle;
  before(async () => {
    server = await startServer(settingsWith({}, testSettings({ path: models.stories })));
    await server.waitForStatus((status) => status.state === "ready");
  });
  after(async () => {
    await server.stop();
  });

  it("uses a prefix-only prompt and still suggests a continuation", async () => {
    const doc = new Doc(server, "file:///work/story.txt", "Once upon a time, there was a little", "plaintext");
    const result = await doc.complete(doc.text.length);
    const record = await lastRecord(server);
    assert.equal(record.outcome, "completed");
    assert.equal(record.mode, "prefix");
    assert.equal((await stats(server)).fim, false);
    assert.ok((firstItem(result) ?? "").trim().length > 0, `a continuation: ${JSON.stringify(result)}`);
  });
});
