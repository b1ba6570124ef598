// Can a model's KV cache be shifted in place (erase a middle range, move later positions down)?
// Decided from GGUF metadata BEFORE any shift, because the wrong answer is not an error but a
// process abort (M-RoPE: llama_memory_seq_add asserts), a silent full re-evaluation by
// node-llama-cpp (recurrent state; SWA caches whose oldest cells are already gone, where
// llama_memory_can_shift is false) or silently wrong keys (learned absolute positions).
// Source: llama.cpp as bundled with node-llama-cpp 3.22.1 (llama-arch.cpp llm_arch_is_recurrent /
// llm_arch_is_hybrid, llama-model.cpp llama_model_rope_type, llama-kv-cache*.cpp get_can_shift).
//
// The decision is a pure function over a metadata object shaped like `GgufFileInfo.metadata`;
// the readers at the bottom take what node-llama-cpp already parsed (no runtime import here).

import type { GgufFileInfo, LlamaModel } from "node-llama-cpp";
import { checkModelFile } from "../model/modelFile";

export type ShiftBlocker =
  | "unknown-architecture"
  | "recurrent"
  | "hybrid"
  | "m-rope"
  | "swa"
  | "absolute-positions"
  | "non-causal"
  | "per-layer-rope";

export interface ShiftCapability {
  /** The architecture read from `general.architecture` ("" when absent). */
  architecture: string;
  canShift: boolean;
  /** Set when canShift is false. */
  blocker?: ShiftBlocker;
  /** Why not, in words for the user; absent when it can shift. */
  reason?: string;
}

/** Only the parts of GGUF metadata the decision reads; real `GgufFileInfo.metadata` objects fit. */
export interface ShiftMetadata {
  general?: { architecture?: string };
  [architecture: string]: unknown;
}

export interface ShiftContextOptions {
  /** The context was (or will be) created with `swaFullCache: true`. */
  swaFullCache?: boolean;
  /** From `model.fileInsights` when a model is loaded (the addon's own lists win over ours). */
  isRecurrent?: boolean;
  isHybrid?: boolean;
}

/** Pure state-space / linear-attention models: one state per sequence, nothing to shift. */
export const recurrentArchitectures: ReadonlySet<string> = new Set([
  "mamba",
  "mamba2",
  "rwkv6",
  "rwkv6qwen2",
  "rwkv7",
  "arwkv7",
]);

/** Attention + recurrent layers: the recurrent state cannot drop a middle range. */
export const hybridArchitectures: ReadonlySet<string> = new Set([
  "jamba",
  "falcon-h1",
  "plamo2",
  "granitehybrid",
  "lfm2",
  "lfm2moe",
  "nemotron_h",
  "nemotron_h_moe",
  "qwen3next",
  "kimi-linear",
  "bailingmoe3",
  "kimi-k3",
  "qwen35",
  "qwen35moe",
  "qwen4exp",
  "deepseek4",
  "minimax-01",
]);

/** Always multi-section RoPE (M-RoPE / interleaved M-RoPE): K-shift aborts the process. */
export const mropeArchitectures: ReadonlySet<string> = new Set([
  "qwen2vl",
  "paddleocr",
  "qwen3vl",
  "qwen3vlmoe",
  "qwen35",
  "qwen35moe",
  "qwen4exp",
  "qwen3tts",
]);

/** Learned absolute position embeddings: shifting positions would not move what the keys encode. */
export const absolutePositionArchitectures: ReadonlySet<string> = new Set(["gpt2", "gptj", "starcoder"]);

/** Encoders / non-causal models: no autoregressive stream to keep. */
export const nonCausalArchitectures: ReadonlySet<string> = new Set([
  "bert",
  "modern-bert",
  "nomic-bert",
  "nomic-bert-moe",
  "neo-bert",
  "jina-bert-v2",
  "jina-bert-v3",
  "eurobert",
  "t5",
  "t5encoder",
  "clip",
  "wavtokenizer-dec",
]);

/** llama.cpp's K-shift assumes one global rotary size; these use per-layer RoPE dims. */
export const perLayerRopeArchitectures: ReadonlySet<string> = new Set(["step35"]);

function record(value: unknown): Record<string, unknown> | undefined {
  return value != null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function num(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "bigint") return Number(value);
  return undefined;
}

/** True when `rope.dimension_sections` has a non-zero section besides the first (M-RoPE). */
function hasRopeSections(archMetadata: Record<string, unknown> | undefined): boolean {
  const sections = record(archMetadata?.rope)?.dimension_sections;
  if (!Array.isArray(sections)) return false;
  const values = sections.map((v) => num(v) ?? 0);
  // llama.cpp: use_mrope() = sections[0] > 0 && sections[1] > 0; dflash drafters: any non-zero.
  return values.filter((v) => v > 0).length >= 2;
}

/** The sliding-window size that makes the cache interleaved-SWA (mirrors GgufInsights.swaSize). */
export function slidingWindowSize(metadata: ShiftMetadata): number | undefined {
  const architecture = metadata.general?.architecture ?? "";
  const arch = record(metadata[architecture]);
  const window = num(record(arch?.attention)?.sliding_window);
  if (window == null || window <= 0) return undefined;
  const trainContext = num(arch?.context_length);
  if (trainContext != null && window >= trainContext) return undefined;
  return window;
}

export function decideShiftCapability(metadata: ShiftMetadata, options: ShiftContextOptions = {}): ShiftCapability {
  const architecture = typeof metadata.general?.architecture === "string" ? metadata.general.architecture : "";
  const no = (blocker: ShiftBlocker, reason: string): ShiftCapability => ({
    architecture,
    canShift: false,
    blocker,
    reason,
  });
  if (architecture === "") {
    return no(
      "unknown-architecture",
      "The model file names no architecture (general.architecture), so an in-place KV shift is not known to be safe.",
    );
  }
  const arch = record(metadata[architecture]);
  if (options.isRecurrent === true || recurrentArchitectures.has(architecture)) {
    return no(
      "recurrent",
      `${architecture} is a recurrent model: its state cannot drop old tokens, so the window is re-evaluated instead of shifted.`,
    );
  }
  if (mropeArchitectures.has(architecture) || hasRopeSections(arch)) {
    return no(
      "m-rope",
      `${architecture} uses multi-section RoPE (M-RoPE): llama.cpp cannot shift its KV cache (it would abort), so the window is re-evaluated instead.`,
    );
  }
  if (options.isHybrid === true || hybridArchitectures.has(architecture)) {
    return no(
      "hybrid",
      `${architecture} mixes attention with recurrent layers: their state cannot drop old tokens, so the window is re-evaluated instead of shifted.`,
    );
  }
  if (perLayerRopeArchitectures.has(architecture)) {
    return no(
      "per-layer-rope",
      `${architecture} uses per-layer RoPE sizes that llama.cpp's K-shift does not support, so the window is re-evaluated instead.`,
    );
  }
  if (nonCausalArchitectures.has(architecture) || record(arch?.attention)?.causal === false) {
    return no("non-causal", `${architecture} is not a causal decoder: there is no token stream to shift.`);
  }
  if (absolutePositionArchitectures.has(architecture)) {
    return no(
      "absolute-positions",
      `${architecture} uses learned absolute position embeddings: shifted positions would not match the cached keys, so the window is re-evaluated instead.`,
    );
  }
  const swa = slidingWindowSize(metadata);
  if (swa != null && options.swaFullCache !== true) {
    return no(
      "swa",
      `${architecture} uses sliding-window attention (${swa} tokens) and the context keeps only that window: llama.cpp does not support shifting that cache in place (llama_memory_can_shift is false). ` +
        `Creating the context with a full SWA cache (swaFullCache) allows shifting at more memory; until then the window is re-evaluated.`,
    );
  }
  return { architecture, canShift: true };
}

/** From a `readGgufFileInfo(...)` result (before loading the model). */
export function shiftCapabilityOfFileInfo(
  fileInfo: Pick<GgufFileInfo, "metadata">,
  options: ShiftContextOptions = {},
): ShiftCapability {
  return decideShiftCapability(fileInfo.metadata as unknown as ShiftMetadata, options);
}

/** From a loaded model: its parsed metadata plus the addon's own recurrent/hybrid verdict. */
export function shiftCapabilityOfModel(
  model: Pick<LlamaModel, "fileInfo" | "fileInsights">,
  options: Pick<ShiftContextOptions, "swaFullCache"> = {},
): ShiftCapability {
  return decideShiftCapability(model.fileInfo.metadata as unknown as ShiftMetadata, {
    swaFullCache: options.swaFullCache,
    isRecurrent: model.fileInsights.isRecurrent,
    isHybrid: model.fileInsights.isHybrid,
  });
}

/**
 * Reads only the metadata of a GGUF file (no tensors, no vocabulary) and decides. The caller passes
 * node-llama-cpp's `readGgufFileInfo` (from server/llamaRuntime.ts's loadLlamaCpp()), so this
 * module keeps no runtime import.
 */
export async function readShiftCapability(
  modelPath: string,
  readGgufFileInfo: (
    path: string,
    options: { readTensorInfo: boolean; ignoreKeys: string[]; logWarnings: boolean; signal?: AbortSignal },
  ) => Promise<Pick<GgufFileInfo, "metadata">>,
  options: ShiftContextOptions & { signal?: AbortSignal } = {},
): Promise<ShiftCapability> {
  // Our bounded reader and sanity check first: node-llama-cpp's reader aborts the process on some
  // hostile files (a 2^31+1 string length), so it only ever sees files that passed.
  await checkModelFile(undefined, modelPath);
  const info = await readGgufFileInfo(modelPath, {
    readTensorInfo: false,
    ignoreKeys: ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"],
    logWarnings: false,
    signal: options.signal,
  });
  return shiftCapabilityOfFileInfo(info, options);
}
