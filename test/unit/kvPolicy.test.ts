// The pure StreamingLLM policy: what to evict and when, edge cases included.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  applyEviction,
  autoShiftSize,
  boundSinks,
  commonPrefixLength,
  emptyAccounting,
  maxSinks,
  planEviction,
  planStep,
  recordEviction,
  sequenceCapacity,
  tokensPerSecond,
} from "../../server/kv/policy";

describe("sink bounds", () => {
  it("keeps a valid request as is", () => {
    assert.deepEqual(boundSinks(4, 512), { sinks: 4 });
  });
  it("bounds m ≥ context to half the context, with a reason", () => {
    const b = boundSinks(512, 512);
    assert.equal(b.sinks, 256);
    assert.match(b.reason ?? "", /no room for a window/);
    assert.equal(boundSinks(10_000, 256).sinks, 128);
  });
  it("always leaves at least one window cell, even in tiny contexts", () => {
    for (const c of [1, 2, 3, 4, 5, 256]) {
      const m = maxSinks(c);
      assert.ok(m >= 0 && m <= Math.max(0, sequenceCapacity(c) - 1), `context ${c}: ${m}`);
    }
  });
  it("rejects negative, fractional and non-numbers", () => {
    assert.equal(boundSinks(-3, 512).sinks, 0);
    assert.equal(boundSinks(Number.NaN, 512).sinks, 0);
    assert.deepEqual(boundSinks(4.7, 512).sinks, 4);
    assert.match(boundSinks(4.7, 512).reason ?? "", /not whole/);
  });
});

describe("planEviction", () => {
  const base = { contextSize: 256, sinks: 4 };
  it("does nothing for empty input or when it fits", () => {
    assert.deepEqual(planEviction({ ...base, cellsUsed: 255, incoming: 0 }), { kind: "fits" });
    assert.deepEqual(planEviction({ ...base, cellsUsed: 254, incoming: 1 }), { kind: "fits" });
    assert.deepEqual(planEviction({ ...base, cellsUsed: 0, incoming: 255 }), { kind: "fits" });
  });
  it("evicts one range right after the sinks, enough plus the automatic margin", () => {
    const plan = planEviction({ ...base, cellsUsed: 255, incoming: 1 });
    assert.equal(plan.kind, "evict");
    if (plan.kind !== "evict") return;
    assert.equal(plan.range.start, 4);
    assert.equal(plan.count, autoShiftSize(256, 4));
    assert.equal(plan.range.end, 4 + plan.count);
    assert.ok(plan.count > 1, "a margin beyond the one missing cell");
  });
  it("evicts at least what is missing even when the shift size is smaller", () => {
    const plan = planEviction({ ...base, cellsUsed: 250, incoming: 40, shiftSize: 8 });
    assert.equal(plan.kind, "evict");
    if (plan.kind === "evict") assert.deepEqual(plan.range, { start: 4, end: 4 + 35 });
  });
  it("clamps a shift size larger than the window to the window (k too large), never touching sinks", () => {
    const plan = planEviction({ ...base, cellsUsed: 255, incoming: 1, shiftSize: 10_000 });
    assert.equal(plan.kind, "evict");
    if (plan.kind === "evict") assert.deepEqual(plan.range, { start: 4, end: 255 });
  });
  it("cannot fit incoming larger than the window: evaluate in chunks", () => {
    const plan = planEviction({ ...base, cellsUsed: 255, incoming: 300 });
    assert.equal(plan.kind, "cannot-fit");
    if (plan.kind === "cannot-fit") assert.match(plan.reason, /chunks/);
  });
  it("cannot fit when the sinks fill the context (m ≥ context)", () => {
    const plan = planEviction({ contextSize: 256, sinks: 300, cellsUsed: 255, incoming: 1 });
    assert.equal(plan.kind, "cannot-fit");
    if (plan.kind === "cannot-fit") assert.match(plan.reason, /sink tokens fill/);
  });
  it("with 0 sinks evicts from cell 0", () => {
    const plan = planEviction({ contextSize: 256, sinks: 0, cellsUsed: 255, incoming: 1, shiftSize: 32 });
    assert.equal(plan.kind, "evict");
    if (plan.kind === "evict") assert.deepEqual(plan.range, { start: 0, end: 32 });
  });
  it("reevaluate mode evicts half the window at once to amortize re-evaluation", () => {
    const plan = planEviction({ ...base, cellsUsed: 255, incoming: 1, cost: "reevaluate" });
    assert.equal(plan.kind, "evict");
    if (plan.kind === "evict") assert.equal(plan.count, Math.ceil(251 / 2));
  });
});

describe("planStep (chunked ingest)", () => {
  it("fills free cells first, up to a batch", () => {
    assert.deepEqual(planStep({ contextSize: 512, sinks: 4, cellsUsed: 0, remaining: 2000, batchSize: 512 }), {
      kind: "evaluate",
      count: 511,
    });
    assert.deepEqual(planStep({ contextSize: 4096, sinks: 4, cellsUsed: 0, remaining: 2000, batchSize: 512 }), {
      kind: "evaluate",
      count: 512,
    });
  });
  it("when full, evicts one shift and evaluates at most what it freed", () => {
    const step = planStep({ contextSize: 512, sinks: 4, cellsUsed: 511, remaining: 2000, batchSize: 512, shiftSize: 64 });
    assert.deepEqual(step, { kind: "evaluate", evict: { start: 4, end: 68 }, count: 64 });
  });
  it("is done for empty input", () => {
    assert.deepEqual(planStep({ contextSize: 512, sinks: 4, cellsUsed: 511, remaining: 0, batchSize: 512 }), { kind: "done" });
  });
  it("streams 20× the context without ever exceeding capacity or touching the sinks", () => {
    const contextSize = 256;
    const capacity = sequenceCapacity(contextSize);
    let cells: number[] = [];
    let next = 0;
    const total = 20 * contextSize;
    while (next < total) {
      const step = planStep({ contextSize, sinks: 4, cellsUsed: cells.length, remaining: total - next, batchSize: 64 });
      assert.equal(step.kind, "evaluate");
      if (step.kind !== "evaluate") break;
      if (step.evict) cells = applyEviction(cells, step.evict);
      for (let i = 0; i < step.count; i++) cells.push(next++);
      assert.ok(cells.length <= capacity, `${cells.length} cells > ${capacity}`);
    }
    assert.deepEqual(cells.slice(0, 4), [0, 1, 2, 3]);
    const window = cells.slice(4);
    assert.deepEqual(window, Array.from({ length: window.length }, (_, i) => total - window.length + i), "window is the stream's tail");
  });
  it("reports cannot-fit when no window is left", () => {
    const step = planStep({ contextSize: 8, sinks: 7, cellsUsed: 7, remaining: 1, batchSize: 8 });
    assert.equal(step.kind, "cannot-fit");
  });
});

describe("accounting helpers", () => {
  it("common prefix", () => {
    assert.equal(commonPrefixLength([1, 2, 3], [1, 2, 4]), 2);
    assert.equal(commonPrefixLength([], [1]), 0);
    assert.equal(commonPrefixLength([1, 2], [1, 2, 3]), 2);
  });
  it("records evictions and throughput", () => {
    const acc = emptyAccounting();
    recordEviction(acc, 32, 1.5);
    recordEviction(acc, 16, 0.5, 100);
    assert.equal(acc.shifts, 2);
    assert.equal(acc.tokensEvicted, 48);
    assert.equal(acc.shiftMs, 2);
    assert.equal(acc.lastShiftMs, 0.5);
    assert.equal(acc.reevaluatedTokens, 100);
    assert.equal(tokensPerSecond(500, 250), 2000);
    assert.equal(tokensPerSecond(0, 0), 0);
  });
});
