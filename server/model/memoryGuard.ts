// The memory guarantee before loading a model: reads the model's shape from its GGUF header, the
// free VRAM/RAM from llama.cpp, and refuses (with a suggested context size) a model + context-size
// combination that cannot fit. The arithmetic is in server/model/memoryBudget.ts; this module only feeds it.
import type { Llama } from "node-llama-cpp";
import type { MemoryBudgetReport } from "../../common/protocol";
import { limits, type Settings } from "../../common/settings";
import type { LlamaCpp } from "../llamaRuntime";
import { kvCacheBytes, modelShapeFromMetadata, planContext } from "./memoryBudget";
import { ModelFileError } from "./modelFile";

/** Contexts of the full configured size the server keeps: chat and completions each have one. */
export const kvContexts = 2;

/** A model + context size that will not fit. A ModelFileError so the engine shows the message as is. */
export class MemoryBudgetError extends ModelFileError {
  constructor(
    message: string,
    readonly report: MemoryBudgetReport,
  ) {
    super(message);
    this.name = "MemoryBudgetError";
  }
}

class MemoryGuard {
  /** The budget of the last model the engine tried to load (shown in diagnostics). */
  latest: MemoryBudgetReport | undefined;

  /**
   * Computes the budget of `settings` for the model at `modelPath` on `llama` (resolving a context
   * size of "auto": the report's `contextSize` is the one to use), remembers it, and throws
   * MemoryBudgetError when it does not fit.
   */
  async check(llamaCpp: LlamaCpp, llama: Llama, modelPath: string, settings: Settings): Promise<MemoryBudgetReport> {
    this.latest = undefined;
    const report = await computeBudget(llamaCpp, llama, modelPath, settings.context.size, settings.model.gpuLayers);
    this.latest = report;
    if (!report.fits) throw new MemoryBudgetError(`Not loading ${modelPath}: ${report.message ?? "it does not fit in memory."}`, report);
    return report;
  }
}

export const memoryGuard = new MemoryGuard();

export async function computeBudget(
  llamaCpp: LlamaCpp,
  llama: Llama,
  modelPath: string,
  /** streamsink.context.size: "auto" resolves to the model's trained context, bounded by memory. */
  contextSize: Settings["context"]["size"],
  gpuLayers: Settings["model"]["gpuLayers"],
  contexts = kvContexts,
): Promise<MemoryBudgetReport> {
  const info = await llamaCpp.readGgufFileInfo(modelPath, { readTensorInfo: true, logWarnings: false });
  const insights = await llamaCpp.GgufInsights.from(info, llama);
  const shape = modelShapeFromMetadata(info.metadata as unknown as Record<string, unknown>);
  const gpu = llama.gpu !== false;
  const modelGpuLayers = !gpu ? 0 : gpuLayers === "auto" ? insights.totalLayers : Math.min(gpuLayers, insights.totalLayers);
  const overheadBytes = (size: number) => {
    // node-llama-cpp's estimate of a whole context (KV + compute buffers + outputs) minus our KV figure.
    const estimate = insights.estimateContextResourceRequirements({
      contextSize: size,
      modelGpuLayers,
      batchSize: Math.min(512, size),
      sequences: 1,
      flashAttention: insights.flashAttentionSupported,
    });
    return Math.max(0, estimate.cpuRam + estimate.gpuVram - kvCacheBytes(shape, size));
  };
  const ram = await llama.getRamState();
  const vram = gpu ? await llama.getVramState() : undefined;
  // On unified-memory systems VRAM is RAM: count it once.
  const freeVram = vram && vram.unifiedSize > 0 ? 0 : vram?.free;
  return planContext({
    shape,
    requested: contextSize,
    trainContextSize: shape.trainContextSize,
    contexts,
    modelBytes: insights.modelSize,
    overheadBytes,
    freeRamBytes: ram.free,
    freeVramBytes: freeVram,
    gpu,
    maxContextSize: limits.contextSize.max,
  });
}
