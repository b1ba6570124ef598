// The memory guarantee, as pure arithmetic: how many bytes a model and its fixed-size KV caches
// (sinks + window = the context size) can ever need, whether that fits in the free memory, and the
// largest context size that would. No node-llama-cpp, no LSP: server/model/memoryGuard.ts feeds it.
//
// KV cache bytes (llama.cpp `llama_kv_cache` with a unified cache per context):
//   Σ over layers of cells × (KV heads of the layer × key dim × bytes(K type)
//                            + KV heads of the layer × value dim × bytes(V type))
// With one KV-head count for all layers that is layers × KV heads × head dim × cells × bytes (K + V).

import type { MemoryBudgetReport } from "../../common/protocol";
import { maxOf } from "../../common/arrays";

/** Bytes per element of the KV cache types llama.cpp supports (block bytes / block elements). */
export const kvTypeBytes: Readonly<Record<string, number>> = {
  f32: 4,
  f16: 2,
  bf16: 2,
  q8_0: 34 / 32,
  q5_1: 24 / 32,
  q5_0: 22 / 32,
  q4_1: 20 / 32,
  q4_0: 18 / 32,
  iq4_nl: 18 / 32,
};

/** The parts of a model's shape that size its KV cache (GGUF `<arch>.*` metadata). */
export interface ModelShape {
  /** `<arch>.block_count`. */
  layers: number;
  /** `<arch>.attention.head_count`. */
  headCount: number;
  /** `<arch>.attention.head_count_kv`: one count, or one per layer (0 = no attention in that layer). */
  headCountKv: number | readonly number[];
  /** `<arch>.embedding_length`. */
  embeddingLength: number;
  /** `<arch>.attention.key_length` (default embedding / heads). */
  keyLength?: number;
  /** `<arch>.attention.value_length` (default embedding / heads). */
  valueLength?: number;
  /** `<arch>.context_length`: the context the model was trained with. */
  trainContextSize?: number;
}

export class MemoryBudgetInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MemoryBudgetInputError";
  }
}

/** llama.cpp rounds a context size up to a multiple of 256. */
export function roundContextSize(size: number): number {
  return Math.max(256, Math.ceil(size / 256) * 256);
}

function bytesPerElement(type: string): number {
  const bytes = kvTypeBytes[type.toLowerCase()];
  if (bytes === undefined) throw new MemoryBudgetInputError(`Unknown KV cache type "${type}".`);
  return bytes;
}

/** Head dimensions used for K and V (explicit lengths win over embedding / heads). */
export function headDimensions(shape: ModelShape): { key: number; value: number } {
  const fallback = shape.headCount > 0 ? shape.embeddingLength / shape.headCount : 0;
  return { key: shape.keyLength ?? fallback, value: shape.valueLength ?? fallback };
}

/** KV heads of layer `index` (per-layer arrays may be shorter than the layer count: repeat the last). */
function kvHeadsOfLayer(shape: ModelShape, index: number): number {
  const value = shape.headCountKv;
  if (typeof value === "number") return value;
  if (value.length === 0) return shape.headCount;
  return value[Math.min(index, value.length - 1)] ?? shape.headCount;
}

/** KV cache bytes of ONE context of `cells` cells. */
export function kvCacheBytes(shape: ModelShape, cells: number, keyType = "f16", valueType = "f16"): number {
  if (!(shape.layers > 0) || !(cells > 0)) return 0;
  const { key, value } = headDimensions(shape);
  const k = bytesPerElement(keyType);
  const v = bytesPerElement(valueType);
  // O(per-layer entries), never O(layers): a file may claim billions of layers (layers past the
  // per-layer list repeat its last entry, so they are counted in one multiplication).
  const perLayer = typeof shape.headCountKv === "number" ? 0 : Math.min(shape.headCountKv.length, shape.layers);
  let heads = 0;
  for (let layer = 0; layer < perLayer; layer++) heads += kvHeadsOfLayer(shape, layer);
  if (shape.layers > perLayer) heads += (shape.layers - perLayer) * kvHeadsOfLayer(shape, shape.layers - 1);
  return Math.ceil(cells * heads * (key * k + value * v));
}

export interface BudgetInput {
  shape: ModelShape;
  /** Requested context size (sinks + window); rounded up to a multiple of 256 here. */
  contextSize: number;
  /** Contexts holding a KV cache of that size (chat and completions each have one). */
  contexts: number;
  keyType?: string;
  valueType?: string;
  /** Bytes of the model's weights. */
  modelBytes: number;
  /** Compute buffers and outputs of one context of `contextSize` cells (beyond its KV cache). */
  overheadBytes: (contextSize: number) => number;
  /** Free memory now: RAM always, VRAM when a GPU backend is used. */
  freeRamBytes: number;
  freeVramBytes?: number;
  gpu: boolean;
  /** Context sizes are never suggested above this (the settings' maximum). */
  maxContextSize?: number;
}

const MB = 1024 * 1024;

export function formatMB(bytes: number): string {
  return `${Math.ceil(bytes / MB).toLocaleString("en-US")} MB`;
}

/**
 * The guarantee: `neverExceedsBytes` = model + contexts × (KV + overhead) at this context size;
 * `fits` when that is within the free memory. When it is not, `suggestedContextSize` is the largest
 * multiple of 256 that fits (absent when not even 256 does: the model itself is too large).
 */
export function planMemory(input: BudgetInput): MemoryBudgetReport {
  const keyType = input.keyType ?? "f16";
  const valueType = input.valueType ?? "f16";
  const contexts = Math.max(1, Math.floor(input.contexts));
  const contextSize = roundContextSize(input.contextSize);
  const need = (size: number) =>
    input.modelBytes + contexts * (kvCacheBytes(input.shape, size, keyType, valueType) + Math.ceil(Math.max(0, input.overheadBytes(size))));
  const kvBytesPerContext = kvCacheBytes(input.shape, contextSize, keyType, valueType);
  const overheadBytesPerContext = Math.ceil(Math.max(0, input.overheadBytes(contextSize)));
  const neverExceedsBytes = need(contextSize);
  const availableBytes = Math.max(0, input.freeRamBytes) + (input.gpu ? Math.max(0, input.freeVramBytes ?? 0) : 0);
  const placement = input.gpu ? "gpu" : "cpu";
  const report: MemoryBudgetReport = {
    contextSize,
    contexts,
    keyType,
    valueType,
    kvBytesPerContext,
    overheadBytesPerContext,
    modelBytes: input.modelBytes,
    neverExceedsBytes,
    availableBytes,
    placement,
    fits: neverExceedsBytes <= availableBytes,
  };
  const where = input.gpu ? "free VRAM + RAM" : "free RAM";
  if (report.fits) {
    if (neverExceedsBytes > availableBytes * 0.9) {
      report.message =
        `The model and its KV caches need up to ${formatMB(neverExceedsBytes)}, close to the ${formatMB(availableBytes)} of ${where}; ` +
        `other programs may push it into swap.`;
    }
    return report;
  }
  // Largest multiple of 256 below the request that fits (need() grows with the size: binary search).
  let low = 0;
  let high = Math.floor((Math.min(contextSize, input.maxContextSize ?? contextSize) - 1) / 256);
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (need(middle * 256) <= availableBytes) low = middle;
    else high = middle - 1;
  }
  const suggested = low * 256;
  const perContext = `${contexts} KV cache${contexts === 1 ? "" : "s"} of ${contextSize.toLocaleString("en-US")} tokens (${formatMB(kvBytesPerContext)} each)`;
  if (suggested >= 256) {
    report.suggestedContextSize = suggested;
    report.message =
      `The model (${formatMB(input.modelBytes)}) with ${perContext} needs up to ${formatMB(neverExceedsBytes)}, ` +
      `but only ${formatMB(availableBytes)} of ${where} is available. ` +
      `Set streamsink.context.size to ${suggested.toLocaleString("en-US")} or less (it would need ${formatMB(need(suggested))}), ` +
      `or close other programs.`;
  } else {
    report.message =
      `The model (${formatMB(input.modelBytes)}) does not fit in the ${formatMB(availableBytes)} of ${where}, ` +
      `even with the smallest context (256 tokens needs ${formatMB(need(256))}). ` +
      `Pick a smaller or more quantized model (StreamSink: Select Model), or free memory.`;
  }
  return report;
}

/** The context size "auto" uses for a model whose GGUF does not give `<arch>.context_length`. */
export const unknownTrainContextSize = 4096;

/**
 * The context size "auto" stands for: the trained context, rounded DOWN to a multiple of 256
 * (llama.cpp rounds up, and a window past the trained length is what "auto" avoids).
 */
export function autoContextSize(trainContextSize: number | undefined): number {
  if (trainContextSize === undefined || !(trainContextSize > 0)) return unknownTrainContextSize;
  return Math.max(256, Math.floor(trainContextSize / 256) * 256);
}

/** What a context larger than the trained one costs, and what to do; undefined when it is not larger. */
export function contextWarning(contextSize: number, trainContextSize: number | undefined): string | undefined {
  if (trainContextSize === undefined || !(trainContextSize > 0) || contextSize <= trainContextSize) return undefined;
  return (
    `n_ctx ${contextSize} > trained ${trainContextSize}: answers degrade past the length the model was trained on; ` +
    `StreamingLLM keeps quality with a window of the training length. Set streamsink.context.size to "auto" (${autoContextSize(trainContextSize)}) unless you need the longer window.`
  );
}

/**
 * The memory plan for `streamsink.context.size` as set: "auto" = the trained context, lowered to
 * the largest size that fits when memory does not allow it; an explicit size is planned as is and,
 * when larger than the trained context, carries a warning saying what that costs.
 */
export function planContext(
  input: Omit<BudgetInput, "contextSize"> & { requested: "auto" | number; trainContextSize?: number },
): MemoryBudgetReport {
  const { requested, trainContextSize, ...budget } = input;
  const trained = trainContextSize !== undefined && trainContextSize > 0 ? trainContextSize : undefined;
  const context = { requestedContextSize: requested, trainContextSize: trained };
  if (requested !== "auto") {
    const report = { ...planMemory({ ...budget, contextSize: requested }), ...context };
    report.contextNote = `streamsink.context.size = ${requested}`;
    report.contextWarning = contextWarning(report.contextSize, trained);
    return report;
  }
  const wanted = Math.min(autoContextSize(trained), budget.maxContextSize ?? Number.MAX_SAFE_INTEGER);
  const first = { ...planMemory({ ...budget, contextSize: wanted }), ...context };
  const source = trained === undefined ? `the model does not say its trained context, so ${wanted}` : `the trained context (${wanted})`;
  if (first.fits || first.suggestedContextSize === undefined) return { ...first, contextNote: `auto: ${source}` };
  const lowered = { ...planMemory({ ...budget, contextSize: first.suggestedContextSize }), ...context };
  lowered.contextNote = `auto: ${source}, lowered to ${lowered.contextSize} to fit the free memory`;
  return lowered;
}

/** Reads a ModelShape from GGUF metadata shaped like node-llama-cpp's `GgufFileInfo.metadata`. */
export function modelShapeFromMetadata(metadata: Record<string, unknown>): ModelShape {
  const general = metadata.general as { architecture?: unknown } | undefined;
  const architecture = typeof general?.architecture === "string" ? general.architecture : "";
  const arch = (metadata[architecture] ?? {}) as Record<string, unknown>;
  const attention = (arch.attention ?? {}) as Record<string, unknown>;
  const num = (value: unknown): number | undefined =>
    typeof value === "number" && Number.isFinite(value) ? value : typeof value === "bigint" ? Number(value) : undefined;
  const layers = num(arch.block_count) ?? 0;
  const rawHeads = attention.head_count;
  // Some models give per-layer head counts: the KV formula only needs the largest.
  const headCount = Array.isArray(rawHeads)
    ? Math.max(0, maxOf(rawHeads.map((value) => num(value) ?? 0)))
    : (num(rawHeads) ?? 0);
  const rawKv = attention.head_count_kv;
  const headCountKv = Array.isArray(rawKv)
    ? rawKv.map((value) => num(value) ?? headCount)
    : (num(rawKv) ?? headCount);
  return {
    layers,
    headCount,
    headCountKv,
    embeddingLength: num(arch.embedding_length) ?? 0,
    keyLength: num(attention.key_length),
    valueLength: num(attention.value_length),
    trainContextSize: num(arch.context_length),
  };
}
