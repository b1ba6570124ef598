// The pure decisions of server/kv/speculation.ts: which predictor runs, and whether a draft model's
// vocabulary matches the target's.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LlamaContextSequence } from "node-llama-cpp";
import { sanitizeSettings } from "../../common/settings";
import {
  compareVocabularies,
  decideSpeculation,
  draftContextShift,
  parseSpeculativeMode,
  sampleTokenIds,
} from "../../server/kv/speculation";

const same = { compatible: true } as const;
const different = { compatible: false, reason: "vocabulary sizes differ (8192 vs 32000 tokens)" } as const;

describe("decideSpeculation", () => {
  it("off and lookup run as asked", () => {
    assert.deepEqual(decideSpeculation("off", { path: "/m/draft.gguf", comparison: same }), { kind: "off" });
    assert.deepEqual(decideSpeculation("lookup", { path: "/m/draft.gguf", comparison: same }), { kind: "lookup" });
  });
  it("auto = lookup without a draft model, draft with a compatible one", () => {
    assert.deepEqual(decideSpeculation("auto", { path: "" }), { kind: "lookup" });
    assert.deepEqual(decideSpeculation("auto", { path: " /m/d.gguf ", comparison: same }), { kind: "draft" });
  });
  it("an incompatible or missing draft model falls back to lookup and says why", () => {
    const auto = decideSpeculation("auto", { path: "/m/d.gguf", comparison: different });
    assert.equal(auto.kind, "lookup");
    assert.match(auto.reason!, /does not fit this model: vocabulary sizes differ/);
    const draft = decideSpeculation("draft", { path: "" });
    assert.equal(draft.kind, "lookup");
    assert.match(draft.reason!, /streamsink\.speculativeDraftModelPath/);
    assert.match(decideSpeculation("draft", { path: "/m/d.gguf" }).reason!, /was not loaded/);
  });
  it("parses only the known modes", () => {
    assert.equal(parseSpeculativeMode("draft"), "draft");
    assert.equal(parseSpeculativeMode("fast"), undefined);
    assert.equal(parseSpeculativeMode(3), undefined);
  });
});

describe("compareVocabularies", () => {
  it("compares size and the sampled token texts", () => {
    const a = { size: 4, samples: [[0, "<s>"], [3, "ab"]] as [number, string][] };
    assert.deepEqual(compareVocabularies(a, { size: 4, samples: [[0, "<s>"], [3, "ab"]] }), { compatible: true });
    assert.match(compareVocabularies(a, { size: 5, samples: a.samples }).reason!, /sizes differ \(4 vs 5/);
    assert.match(compareVocabularies(a, { size: 4, samples: [[3, "abc"]] }).reason!, /token 3 is "ab" in one model and "abc"/);
  });
  it("samples spread ids including both ends, bounded", () => {
    assert.deepEqual(sampleTokenIds(0), []);
    assert.deepEqual(sampleTokenIds(3, 64), [0, 1, 2]);
    const ids = sampleTokenIds(8192, 16);
    assert.equal(ids.length, 16);
    assert.equal(ids[0], 0);
    assert.equal(ids[15], 8191);
  });
});

describe("draftContextShift", () => {
  it("erases after the sinks, never an empty list", () => {
    const shift = draftContextShift(4);
    const sequence = { contextSize: 256, nextTokenIndex: 255 } as LlamaContextSequence;
    const size = (shift.size as (s: LlamaContextSequence) => number)(sequence);
    assert.equal(size, 64);
    const strategy = shift.strategy as (o: { sequence: LlamaContextSequence; size: number }) => { start: number; end: number }[];
    assert.deepEqual(strategy({ sequence, size }), [{ start: 4, end: 68 }]);
    const tiny = { contextSize: 256, nextTokenIndex: 3 } as LlamaContextSequence;
    assert.deepEqual(strategy({ sequence: tiny, size: 1 }), [{ start: 2, end: 3 }]);
  });
});

describe("streamsink.speculative settings", () => {
  it("defaults to off (slower on the CPU, docs/BENCHMARKS.md) and sanitises the mode and the draft path", () => {
    const none = sanitizeSettings(() => undefined);
    assert.equal(none.settings.speculative, "off");
    assert.equal(none.settings.speculativeDraftModelPath, "");
    const values: Record<string, unknown> = { speculative: "draft", speculativeDraftModelPath: " ~/m/draft.gguf " };
    const set = sanitizeSettings((key) => values[key], (p) => p.replace("~", "/home/u"));
    assert.equal(set.settings.speculative, "draft");
    assert.equal(set.settings.speculativeDraftModelPath, "/home/u/m/draft.gguf");
    assert.deepEqual(set.problems, []);
    // The server sanitises the Settings object again by dotted key: the values must survive that.
    const again = sanitizeSettings((key) => (set.settings as unknown as Record<string, unknown>)[key]);
    assert.equal(again.settings.speculative, "draft");
    assert.equal(again.settings.speculativeDraftModelPath, "/home/u/m/draft.gguf");
    const bad = sanitizeSettings((key) => ({ speculative: "turbo", speculativeDraftModelPath: 7 })[key]);
    assert.equal(bad.settings.speculative, "off");
    assert.equal(bad.settings.speculativeDraftModelPath, "");
    assert.deepEqual(
      bad.problems.map((p) => p.key),
      ["speculativeDraftModelPath", "speculative"],
    );
    assert.match(bad.problems[1]!.message, /must be one of auto, off, lookup, draft; using "off"/);
  });
});
