// Which models may shift their KV cache in place, decided from metadata shaped like real GGUF files.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideShiftCapability, slidingWindowSize, type ShiftMetadata } from "../../server/kv/shiftCapability";

function meta(architecture: string, arch: Record<string, unknown> = {}): ShiftMetadata {
  return { general: { architecture, name: "test" }, [architecture]: arch } as ShiftMetadata;
}

const llamaArch = {
  context_length: 512,
  embedding_length: 384,
  block_count: 8,
  feed_forward_length: 1024,
  attention: { head_count: 6, head_count_kv: 2, layer_norm_rms_epsilon: 1e-5 },
  rope: { dimension_count: 64, freq_base: 10000 },
};

describe("decideShiftCapability", () => {
  it("llama / qwen2 / mistral-like dense RoPE models can shift", () => {
    for (const a of ["llama", "qwen2", "qwen3", "phi3", "granite", "starcoder2"]) {
      const c = decideShiftCapability(meta(a, llamaArch));
      assert.equal(c.canShift, true, a);
      assert.equal(c.reason, undefined);
    }
  });

  it("M-RoPE (qwen2vl, qwen3vl) is refused: llama.cpp would abort", () => {
    const qwen2vl = decideShiftCapability(
      meta("qwen2vl", { ...llamaArch, rope: { dimension_count: 128, dimension_sections: [16, 24, 24, 0] } }),
    );
    assert.equal(qwen2vl.canShift, false);
    assert.equal(qwen2vl.blocker, "m-rope");
    assert.match(qwen2vl.reason!, /M-RoPE/);
    assert.equal(decideShiftCapability(meta("qwen3vl", llamaArch)).blocker, "m-rope");
  });

  it("rope dimension sections make any architecture M-RoPE (glm4 vision variants)", () => {
    const withSections = meta("glm4", { ...llamaArch, rope: { dimension_count: 64, dimension_sections: [8, 12, 12, 0] } });
    assert.equal(decideShiftCapability(withSections).blocker, "m-rope");
    const textOnly = meta("glm4", { ...llamaArch, rope: { dimension_count: 64, dimension_sections: [0, 0, 0, 0] } });
    assert.equal(decideShiftCapability(textOnly).canShift, true);
  });

  it("Gemma 2/3 interleaved SWA is refused unless the context keeps a full SWA cache", () => {
    const gemma3 = meta("gemma3", {
      ...llamaArch,
      context_length: 131072,
      attention: { head_count: 8, head_count_kv: 4, sliding_window: 1024, sliding_window_pattern: 6 },
    });
    const c = decideShiftCapability(gemma3);
    assert.equal(c.canShift, false);
    assert.equal(c.blocker, "swa");
    assert.match(c.reason!, /swaFullCache/);
    assert.equal(decideShiftCapability(gemma3, { swaFullCache: true }).canShift, true);
    const gemma2 = meta("gemma2", { ...llamaArch, context_length: 8192, attention: { sliding_window: 4096 } });
    assert.equal(decideShiftCapability(gemma2).blocker, "swa");
  });

  it("a sliding window as large as the trained context is not SWA", () => {
    const m = meta("mistral", { ...llamaArch, context_length: 4096, attention: { sliding_window: 4096 } });
    assert.equal(slidingWindowSize(m), undefined);
    assert.equal(decideShiftCapability(m).canShift, true);
  });

  it("recurrent models (mamba, rwkv) re-evaluate", () => {
    for (const a of ["mamba", "mamba2", "rwkv6", "rwkv7"]) {
      const c = decideShiftCapability(meta(a, { ssm: { conv_kernel: 4, state_size: 16 } }));
      assert.equal(c.canShift, false, a);
      assert.equal(c.blocker, "recurrent", a);
    }
  });

  it("hybrid models (jamba, granitehybrid, falcon-h1, lfm2, nemotron_h, qwen3next) re-evaluate", () => {
    for (const a of ["jamba", "granitehybrid", "falcon-h1", "lfm2", "nemotron_h", "qwen3next"]) {
      assert.equal(decideShiftCapability(meta(a, llamaArch)).blocker, "hybrid", a);
    }
  });

  it("the addon's own recurrent / hybrid verdict wins for architectures we do not list", () => {
    assert.equal(decideShiftCapability(meta("future-ssm", llamaArch), { isRecurrent: true }).blocker, "recurrent");
    assert.equal(decideShiftCapability(meta("future-hybrid", llamaArch), { isHybrid: true }).blocker, "hybrid");
  });

  it("learned absolute positions and encoders are refused", () => {
    assert.equal(decideShiftCapability(meta("gpt2", { context_length: 1024 })).blocker, "absolute-positions");
    assert.equal(decideShiftCapability(meta("bert", { context_length: 512 })).blocker, "non-causal");
    assert.equal(
      decideShiftCapability(meta("llama", { ...llamaArch, attention: { ...llamaArch.attention, causal: false } })).blocker,
      "non-causal",
    );
  });

  it("a file without an architecture is refused with a reason", () => {
    const c = decideShiftCapability({ general: {} });
    assert.equal(c.canShift, false);
    assert.equal(c.blocker, "unknown-architecture");
    assert.match(c.reason!, /general\.architecture/);
  });

  it("bigint metadata values (as GGUF readers return for 64-bit fields) are understood", () => {
    const m = meta("gemma2", { context_length: 8192n, attention: { sliding_window: 4096n } });
    assert.equal(decideShiftCapability(m).blocker, "swa");
  });
});
