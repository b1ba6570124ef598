// Resumable KV snapshots on the real tiny model: a StreamingLLM sequence that has already evicted
// and shifted is saved, restored into a fresh context with no re-evaluation (same tokens, token
// meter untouched) and continues exactly as the original does; snapshots from another model,
// other settings or with a damaged state file are ignored with a note and never loaded; writes
// are atomic (one state file per snapshot, crash leftovers cleaned).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Llama, LlamaContext, LlamaModel, Token } from "node-llama-cpp";
import { shiftCapabilityOfModel } from "../../server/kv/shiftCapability";
import { minimumStateBytes, modelIdentity, SnapshotStore, type SnapshotIdentity } from "../../server/kv/snapshot";
import { StreamingSequence } from "../../server/kv/streamingSequence";
import { models } from "../support/paths";

const code = `import os
import sys


def read_config(path):
    """Read a key=value configuration file into a dict."""
    config = {}
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            config[key.strip()] = value.strip()
    return config


class Cache:
    def __init__(self, size):
        self.size = size
        self.items = {}

    def get(self, key, default=None):
        return self.items.get(key, default)

    def put(self, key, value):
        if len(self.items) >= self.size:
            self.items.pop(next(iter(self.items)))
        self.items[key] = value
`;

let llama: Llama;
let model: LlamaModel;
let scratch: string;
const contexts: LlamaContext[] = [];

async function newStream(label = "chat"): Promise<StreamingSequence> {
  const context = await model.createContext({ contextSize: 256, threads: 2 });
  contexts.push(context);
  return StreamingSequence.create(context, { sinks: 4, capability: shiftCapabilityOfModel(model), label });
}

async function greedy(stream: StreamingSequence, count: number): Promise<Token[]> {
  const tokens: Token[] = [];
  for await (const token of stream.generate({ maxTokens: count, temperature: 0 })) tokens.push(token);
  return tokens;
}

before(async () => {
  const { getLlama } = await import("node-llama-cpp"); // ESM with top-level await: no static import
  llama = await getLlama({ gpu: false, build: "never" });
  model = await llama.loadModel({ modelPath: models.tinycoderQ8 });
  scratch = await mkdtemp(path.join(tmpdir(), "streamsink-snapshot-"));
});
after(async () => {
  for (const context of contexts) await context.dispose();
  await model.dispose();
  await llama.dispose();
  await rm(scratch, { recursive: true, force: true });
});

describe("KV snapshots", () => {
  let identity: SnapshotIdentity;
  let store: SnapshotStore;
  let original: StreamingSequence;
  let savedTokens: number[];

  before(async () => {
    store = new SnapshotStore(path.join(scratch, "kv"));
    original = await newStream();
    // Longer than the 256-token context: the window has been evicted and shifted in place.
    await original.ingest(model.tokenize(code + code, false).slice(0, 400));
    await greedy(original, 8);
    assert.ok(original.stats().shifts > 0, "the sequence has shifted before it is saved");
    identity = {
      model: await modelIdentity(models.tinycoderQ8),
      engine: { contextSize: original.context.contextSize, sinks: 4, shiftSize: 0 },
    };
  });

  it("hashes the model file once per path, size and mtime", async () => {
    const again = await modelIdentity(models.tinycoderQ8);
    assert.equal(again.sha256, "9ad78b9aad060fd0afffc2bea9b74bd8a46233255a9306da937d711465751aa2", "MODELS.md's sha256");
    assert.deepEqual(again, identity.model);
  });

  it("restores a shifted sequence without re-evaluating, and it continues exactly like the original", async () => {
    const meta = await store.save("chat", original.sequence, identity, { chatId: "c1" });
    savedTokens = meta.tokens;
    assert.deepEqual(meta.tokens, [...original.sequence.contextTokens]);
    assert.ok(meta.tokens.length > 200 && meta.tokens.length < identity.engine.contextSize);

    const restored = await newStream();
    const result = await store.restore("chat", restored.sequence, identity);
    assert.equal(result.restored, true, result.restored ? "" : result.note);
    assert.deepEqual([...restored.sequence.contextTokens], meta.tokens, "the restored tokens equal the snapshot's");
    assert.equal(restored.sequence.nextTokenIndex, meta.tokens.length);
    assert.equal(restored.sequence.tokenMeter.usedInputTokens, 0, "nothing was evaluated to restore it");
    assert.deepEqual(result.restored && result.meta.owner, { chatId: "c1" });

    // Same KV ⇒ same greedy continuation (the restored cache has the shifted positions, not a recompute).
    const expected = await greedy(original, 12);
    const actual = await greedy(restored, 12);
    assert.deepEqual(actual, expected);
  });

  it("ignores a snapshot of another model with a note, and loads nothing", async () => {
    const other = { ...identity, model: await modelIdentity(models.tinycoderF16) };
    const fresh = await newStream();
    const result = await store.restore("chat", fresh.sequence, other);
    assert.equal(result.restored, false);
    assert.match(!result.restored ? result.note : "", /Ignored the saved chat KV snapshot: it was made with another model \(tinycoder-16m-q8_0\.gguf/);
    assert.equal(fresh.sequence.nextTokenIndex, 0, "nothing loaded");
  });

  it("ignores a snapshot made with other engine settings, naming them", async () => {
    const fresh = await newStream();
    const result = await store.restore("chat", fresh.sequence, { ...identity, engine: { ...identity.engine, sinks: 8 } });
    assert.equal(result.restored, false);
    assert.match(!result.restored ? result.note : "", /other engine settings \(sinks 4 → 8\)/);
    assert.equal(fresh.sequence.nextTokenIndex, 0);
  });

  it("ignores a damaged state file, and an unreadable sidecar", async () => {
    const dir = store.directory;
    const meta = (await store.read("chat"))!;
    const statePath = path.join(dir, meta.stateFile);
    const bytes = await readFile(statePath);
    const damaged = Buffer.from(bytes);
    damaged[Math.floor(damaged.length / 2)]! ^= 0xff;
    await writeFile(statePath, damaged);
    const fresh = await newStream();
    const result = await store.restore("chat", fresh.sequence, identity);
    assert.match(!result.restored ? result.note : "restored", /damaged/);
    assert.equal(fresh.sequence.nextTokenIndex, 0);
    await writeFile(statePath, bytes);

    await writeFile(path.join(dir, "broken.json"), "{not json");
    const none = await store.restore("broken", fresh.sequence, identity);
    assert.equal(none.restored, false);
    assert.equal(fresh.sequence.nextTokenIndex, 0);
  });

  /** The saved snapshot's sidecar and state file as they are on disk (to forge copies of). */
  async function savedFiles() {
    const sidecar = path.join(store.directory, "chat.json");
    const original = await readFile(sidecar, "utf8");
    const meta = JSON.parse(original) as { stateFile: string; stateBytes: number; stateSha256: string; tokens: number[] };
    const statePath = path.join(store.directory, meta.stateFile);
    return { sidecar, original, meta, statePath, bytes: await readFile(statePath) };
  }

  it("refuses a truncated state file whose sidecar was rewritten to match it (size and hash), before llama.cpp reads it", async () => {
    const { sidecar, original, meta, statePath, bytes } = await savedFiles();
    const fresh = await newStream();
    const minimum = minimumStateBytes(fresh.sequence, meta.tokens.length);
    assert.equal(minimum, bytes.length, "the expected size is the real file's size");
    for (const cut of [bytes.length - 1, bytes.length - 1000, Math.floor(bytes.length / 2), 64]) {
      const truncated = bytes.subarray(0, cut);
      await writeFile(statePath, truncated);
      const forged = { ...meta, stateBytes: truncated.length, stateSha256: createHash("sha256").update(truncated).digest("hex") };
      await writeFile(sidecar, JSON.stringify(forged));
      const result = await store.restore("chat", fresh.sequence, identity);
      assert.match(!result.restored ? result.note : "restored", /it is truncated/);
      assert.equal(fresh.sequence.nextTokenIndex, 0);
    }
    await writeFile(statePath, bytes);
    await writeFile(sidecar, original);
  });

  it("refuses a state file whose KV stream or cell count is forged (sidecar rewritten to match), before llama.cpp allocates by it", async () => {
    const { sidecar, original, meta, statePath, bytes } = await savedFiles();
    const fresh = await newStream();
    const countsAt = 12 + 4 * meta.tokens.length; // after magic, version, token count and the tokens
    assert.equal(bytes.readUInt32LE(countsAt), 1, "one KV stream");
    assert.equal(bytes.readUInt32LE(countsAt + 4), meta.tokens.length, "one cell per token");
    // 2^31 - 1 cells: unchecked, llama.cpp allocates until the kernel kills the process.
    const cases: [offset: number, value: number, note: RegExp][] = [
      [4, 0x7fff_ffff, /claims 2147483647 KV cells, more than the \d+ of the context/],
      [4, fresh.sequence.context.contextSize + 1, /KV cells, more than the/],
      [0, 0, /claims 0 KV streams/],
      [0, 4096, /claims 4096 KV streams/],
    ];
    for (const [offset, value, note] of cases) {
      const forgedBytes = Buffer.from(bytes);
      forgedBytes.writeUInt32LE(value, countsAt + offset);
      await writeFile(statePath, forgedBytes);
      const forged = { ...meta, stateSha256: createHash("sha256").update(forgedBytes).digest("hex") };
      await writeFile(sidecar, JSON.stringify(forged));
      const result = await store.restore("chat", fresh.sequence, identity);
      assert.match(!result.restored ? result.note : "restored", note);
      assert.equal(fresh.sequence.nextTokenIndex, 0);
    }
    await writeFile(statePath, bytes);
    await writeFile(sidecar, original);
  });

  it("writes atomically: one state file per snapshot, crash leftovers removed on the next save", async () => {
    const dir = store.directory;
    // What a crash in the middle of a save leaves behind.
    await writeFile(path.join(dir, "chat-crashed.kvstate.tmp"), "partial");
    await writeFile(path.join(dir, "chat-orphan.kvstate"), "orphan");
    await writeFile(path.join(dir, "chat.json.crashed.tmp"), "{");
    const meta = await store.save("chat", original.sequence, identity);
    const files = (await readdir(dir)).filter((file) => file.startsWith("chat")).sort();
    assert.deepEqual(files, ["chat.json", meta.stateFile].sort());
    assert.notDeepEqual(meta.tokens, savedTokens, "the newer snapshot replaced the older one");
    const fresh = await newStream();
    const result = await store.restore("chat", fresh.sequence, identity);
    assert.equal(result.restored, true);
    assert.deepEqual([...fresh.sequence.contextTokens], meta.tokens);
    await store.remove("chat");
    assert.deepEqual((await readdir(dir)).filter((file) => file.startsWith("chat")), []);
  });
});
