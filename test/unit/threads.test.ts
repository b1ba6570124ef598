// The `streamsink.threads` rule: auto leaves a core to the editor; explicit values are capped.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveThreads } from "../../server/threads";

describe("resolveThreads", () => {
  it("auto = physical cores − 1", () => {
    assert.deepEqual(resolveThreads("auto", { physical: 2, logical: 2 }), { threads: 1 });
    assert.deepEqual(resolveThreads("auto", { physical: 8, logical: 16 }), { threads: 7 });
    assert.deepEqual(resolveThreads("auto", { physical: 16, logical: 32 }), { threads: 15 });
  });

  it("auto never goes below 1 thread", () => {
    assert.deepEqual(resolveThreads("auto", { physical: 1, logical: 1 }), { threads: 1 });
    assert.deepEqual(resolveThreads("auto", { physical: 0, logical: 4 }), { threads: 1 });
    assert.deepEqual(resolveThreads("auto", { physical: Number.NaN, logical: Number.NaN }), { threads: 1 });
  });

  it("auto never exceeds the logical cores (a physical count larger than the logical one is not trusted)", () => {
    assert.deepEqual(resolveThreads("auto", { physical: 8, logical: 4 }), { threads: 3 });
  });

  it("keeps explicit values up to the logical cores", () => {
    assert.deepEqual(resolveThreads(1, { physical: 2, logical: 2 }), { threads: 1 });
    assert.deepEqual(resolveThreads(2, { physical: 2, logical: 2 }), { threads: 2 });
    assert.deepEqual(resolveThreads(12, { physical: 8, logical: 16 }), { threads: 12 });
  });

  it("caps explicit values at the logical cores and says so", () => {
    const choice = resolveThreads(64, { physical: 2, logical: 2 });
    assert.equal(choice.threads, 2);
    assert.match(choice.notice ?? "", /streamsink\.threads = 64 .* 2 logical cores .* using 2/);
  });
});
