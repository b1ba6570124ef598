// The memory guarantee's arithmetic: KV bytes from the model's shape, the verdict against free
// memory, and the context size it suggests when a combination does not fit.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  autoContextSize,
  kvCacheBytes,
  modelShapeFromMetadata,
  planContext,
  planMemory,
  roundContextSize,
  type ModelShape,
} from "../../server/model/memoryBudget";

const MB = 1024 * 1024;
/** tinycoder-16m: 8 layers, d 384, 6 heads, 2 KV heads (head dim 64). */
const tinycoder: ModelShape = { layers: 8, headCount: 6, headCountKv: 2, embeddingLength: 384 };
/** A Qwen2.5-Coder-7B-like shape: 28 layers, 28 heads, 4 KV heads, head dim 128. */
const qwen7b: ModelShape = { layers: 28, headCount: 28, headCountKv: 4, embeddingLength: 3584 };

describe("kvCacheBytes", () => {
  it("is layers × KV heads × head dim × cells × bytes, for K and V", () => {
    // 8 × 2 × 64 × 512 × 2 bytes = 1 MiB for K, the same for V.
    assert.equal(kvCacheBytes(tinycoder, 512), 2 * MB);
    assert.equal(kvCacheBytes(qwen7b, 4096), 28 * 4 * 128 * 4096 * 2 * 2);
    assert.equal(kvCacheBytes(qwen7b, 32768) / MB, 1792);
  });

  it("uses the K and V types' sizes (q8_0 = 34 bytes per 32 values)", () => {
    assert.equal(kvCacheBytes(tinycoder, 512, "f32", "f32"), 4 * MB);
    // K at q8_0: 1 MiB of f16 values is 512 Ki values → 512 Ki × 34/32 bytes.
    assert.equal(kvCacheBytes(tinycoder, 512, "q8_0", "f16"), (MB / 2) * (34 / 32) + MB);
    assert.throws(() => kvCacheBytes(tinycoder, 512, "q3_k"), /Unknown KV cache type/);
  });

  it("sums per-layer KV head counts (0 = a layer without attention) and explicit key/value lengths", () => {
    const hybrid: ModelShape = { layers: 4, headCount: 8, headCountKv: [2, 0, 2, 0], embeddingLength: 512, keyLength: 128, valueLength: 64 };
    assert.equal(kvCacheBytes(hybrid, 256), 2 * 256 * 2 * (128 * 2 + 64 * 2));
  });
});

describe("planMemory", () => {
  const base = {
    shape: qwen7b,
    contexts: 2,
    modelBytes: 4_400 * MB,
    overheadBytes: (size: number) => 300 * MB * (size / 4096),
    gpu: false,
  };

  it("rounds the context like llama.cpp and says it fits when it does", () => {
    assert.equal(roundContextSize(1000), 1024);
    assert.equal(roundContextSize(10), 256);
    const plan = planMemory({ ...base, contextSize: 4000, freeRamBytes: 16_000 * MB });
    assert.equal(plan.contextSize, 4096);
    assert.equal(plan.kvBytesPerContext, 224 * MB);
    assert.equal(plan.neverExceedsBytes, 4_400 * MB + 2 * (224 * MB + 300 * MB));
    assert.equal(plan.fits, true);
    assert.equal(plan.suggestedContextSize, undefined);
    assert.equal(plan.message, undefined);
  });

  it("refuses a context that does not fit and suggests the largest one that does", () => {
    const plan = planMemory({ ...base, contextSize: 131_072, freeRamBytes: 8_000 * MB });
    assert.equal(plan.fits, false);
    const suggested = plan.suggestedContextSize;
    assert.ok(suggested !== undefined && suggested % 256 === 0 && suggested < 131_072, `suggested ${suggested}`);
    const need = (size: number) => planMemory({ ...base, contextSize: size, freeRamBytes: 8_000 * MB });
    assert.equal(need(suggested).fits, true, "the suggestion fits");
    assert.equal(need(suggested + 256).fits, false, "and is the largest that does");
    assert.match(plan.message ?? "", /needs up to [\d,]+ MB, but only 8,000 MB of free RAM/);
    assert.match(plan.message ?? "", new RegExp(`streamsink\\.context\\.size to ${suggested.toLocaleString("en-US")} or less`));
  });

  it("counts free VRAM with RAM on a GPU backend only", () => {
    const cpu = planMemory({ ...base, contextSize: 32_768, freeRamBytes: 6_000 * MB, freeVramBytes: 8_000 * MB });
    const gpu = planMemory({ ...base, contextSize: 32_768, freeRamBytes: 6_000 * MB, freeVramBytes: 8_000 * MB, gpu: true });
    assert.equal(cpu.fits, false);
    assert.equal(gpu.fits, true);
    assert.equal(gpu.availableBytes, 14_000 * MB);
    assert.equal(gpu.placement, "gpu");
  });

  it("says to pick a smaller model when not even 256 tokens fit", () => {
    const plan = planMemory({ ...base, contextSize: 4096, freeRamBytes: 2_000 * MB });
    assert.equal(plan.fits, false);
    assert.equal(plan.suggestedContextSize, undefined);
    assert.match(plan.message ?? "", /does not fit .* even with the smallest context .* smaller or more quantized model/);
  });

  it("warns when the budget is within 10% of the free memory", () => {
    const need = planMemory({ ...base, contextSize: 4096, freeRamBytes: 1e15 }).neverExceedsBytes;
    const plan = planMemory({ ...base, contextSize: 4096, freeRamBytes: need / 0.95 });
    assert.equal(plan.fits, true);
    assert.match(plan.message ?? "", /close to the/);
  });
});

describe("modelShapeFromMetadata", () => {
  it("reads the architecture's block count, heads and lengths from GGUF metadata", () => {
    const shape = modelShapeFromMetadata({
      general: { architecture: "qwen2" },
      qwen2: { block_count: 28, context_length: 32_768, embedding_length: 3584, attention: { head_count: 28, head_count_kv: 4 } },
    });
    assert.deepEqual(shape, {
      layers: 28,
      headCount: 28,
      headCountKv: 4,
      embeddingLength: 3584,
      keyLength: undefined,
      valueLength: undefined,
      trainContextSize: 32_768,
    });
    assert.equal(kvCacheBytes(shape, 4096), kvCacheBytes(qwen7b, 4096));
  });

  it("gives zeros (no KV) for metadata without an architecture rather than throwing", () => {
    const shape = modelShapeFromMetadata({});
    assert.equal(kvCacheBytes(shape, 4096), 0);
  });
});

describe("planContext (streamsink.context.size)", () => {
  const base = {
    shape: tinycoder,
    contexts: 2,
    modelBytes: 30 * MB,
    overheadBytes: () => 2 * MB,
    gpu: false,
    freeRamBytes: 16_000 * MB,
  };

  it('"auto" is the trained context, rounded down to a multiple of 256 (never past what the model saw)', () => {
    const plan = planContext({ ...base, requested: "auto", trainContextSize: 512 });
    assert.equal(plan.contextSize, 512);
    assert.equal(plan.requestedContextSize, "auto");
    assert.equal(plan.trainContextSize, 512);
    assert.match(plan.contextNote ?? "", /auto: the trained context \(512\)/);
    assert.equal(plan.contextWarning, undefined);
    assert.equal(autoContextSize(2000), 1792);
    assert.equal(autoContextSize(100), 256);
    assert.equal(autoContextSize(32_768), 32_768);
  });

  it('"auto" without a trained context in the file uses 4096 and says why', () => {
    const plan = planContext({ ...base, requested: "auto" });
    assert.equal(plan.contextSize, 4096);
    assert.match(plan.contextNote ?? "", /does not say its trained context/);
  });

  it('"auto" is bounded by the memory guarantee: lowered to the largest size that fits', () => {
    const qwen = { ...base, shape: qwen7b, modelBytes: 4_400 * MB, overheadBytes: (size: number) => 300 * MB * (size / 4096) };
    const plan = planContext({ ...qwen, requested: "auto", trainContextSize: 131_072, freeRamBytes: 8_000 * MB });
    assert.equal(plan.fits, true);
    assert.ok(plan.contextSize < 131_072 && plan.contextSize % 256 === 0, `${plan.contextSize}`);
    assert.equal(planMemory({ ...qwen, contextSize: plan.contextSize + 256, freeRamBytes: 8_000 * MB }).fits, false);
    assert.match(plan.contextNote ?? "", /lowered to \d+ to fit the free memory/);
  });

  it("an explicit size larger than the trained context works but warns with the reason", () => {
    const plan = planContext({ ...base, requested: 4096, trainContextSize: 512 });
    assert.equal(plan.contextSize, 4096);
    assert.equal(plan.fits, true);
    assert.match(plan.contextWarning ?? "", /^n_ctx 4096 > trained 512: answers degrade.*StreamingLLM keeps quality with a window of the training length/);
    assert.equal(planContext({ ...base, requested: 512, trainContextSize: 512 }).contextWarning, undefined);
    assert.equal(planContext({ ...base, requested: 300, trainContextSize: 512 }).contextWarning, undefined, "512 after rounding");
    assert.equal(planContext({ ...base, requested: 4096 }).contextWarning, undefined, "no trained context: nothing to compare");
  });
});
