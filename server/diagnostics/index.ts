// Cache diagnostics for the client: a snapshot of every StreamingLLM sequence (from the
// SequenceRegistry), of the process (backend, devices, GPU layers, KV bytes, VRAM/RAM, RSS) and of
// the model (shape, quantization, whether it can shift). Also: cache resets and the status bar's KV
// fill (pushed only when it changes). Model downloads are the models feature (server/models/).
import os from "node:os";
import { ResponseError } from "vscode-languageserver/node";
import { maxOf } from "../../common/arrays";
import { DisposableStore, type Disposable } from "../../common/disposable";
import type { SequenceStats } from "../../common/kvStats";
import {
  DiagnosticsRequest,
  ErrorCodes,
  KvFillNotification,
  ResetCacheRequest,
  type DiagnosticsSnapshot,
  type KvFill,
  type ModelDiagnostics,
  type ProcessDiagnostics,
  type SequenceDiagnostics,
} from "../../common/protocol";
import { check, object, string, withMessage } from "../../common/validate";
import type { Engine, LoadedModel } from "../engine";
import type { ServerContext } from "../feature";
import { shiftCapabilityOfModel } from "../kv/shiftCapability";
import { errorMessage } from "../log";
import { headDimensions, kvCacheBytes, modelShapeFromMetadata, type ModelShape } from "../model/memoryBudget";
import { memoryGuard } from "../model/memoryGuard";
import { modelDisplayName } from "../model/modelFile";
import type { SequenceRegistry } from "../sequences";

/** How often the KV fill is compared with what the client last got (nothing is sent when equal). */
const kvFillCheckMs = 1000;

const resetCacheParams = withMessage(object({ label: string(64, 1) }), 'streamsink/resetCache needs {label: "chat" | "completion"}.');

export function formatParameterCount(parameters: number): string {
  if (!(parameters > 0)) return "?";
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "B"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  for (const [size, unit] of units) {
    if (parameters >= size * 0.95) {
      const value = parameters / size;
      return `${value >= 10 ? value.toFixed(0) : value.toFixed(1)}${unit}`;
    }
  }
  return String(parameters);
}

function loadedOrUndefined(engine: Engine): LoadedModel | undefined {
  try {
    return engine.requireModel();
  } catch {
    return undefined;
  }
}

function sinkTextOf(loaded: LoadedModel | undefined, stats: SequenceStats): string[] {
  if (!loaded) return [];
  return stats.sinkTokens.map((token) => {
    try {
      return loaded.model.detokenize([token as never], true);
    } catch {
      return "";
    }
  });
}

function shapeOf(loaded: LoadedModel): ModelShape {
  return modelShapeFromMetadata(loaded.model.fileInfo.metadata as unknown as Record<string, unknown>);
}

function modelDiagnostics(loaded: LoadedModel, llamaCppFileTypes: Record<number, string>): ModelDiagnostics {
  const { model } = loaded;
  const metadata = model.fileInfo.metadata as unknown as Record<string, unknown>;
  const general = (metadata.general ?? {}) as { architecture?: string; file_type?: number };
  const shape = shapeOf(loaded);
  const dims = headDimensions(shape);
  const shift = shiftCapabilityOfModel(model);
  const headCountKv = typeof shape.headCountKv === "number" ? shape.headCountKv : Math.max(0, maxOf(shape.headCountKv));
  const parameters = model.fileInsights.totalParameters;
  const fileType = general.file_type;
  return {
    name: modelDisplayName(loaded.settings.model.path),
    path: loaded.settings.model.path,
    fileSizeBytes: model.fileInsights.modelSize,
    architecture: general.architecture ?? "",
    parameters,
    parametersText: formatParameterCount(parameters),
    quantization: fileType === undefined ? "unknown" : (llamaCppFileTypes[fileType] ?? `type ${fileType}`),
    trainedContextSize: model.trainContextSize,
    layers: shape.layers,
    headCount: shape.headCount,
    headCountKv,
    headDimK: dims.key,
    headDimV: dims.value,
    canShift: shift.canShift,
    shiftReason: shift.reason,
  };
}

/** A notice the user must see: the backend asked for was not available, or no GPU is in use. */
function backendNotice(engine: Engine, backend: string | undefined): string | undefined {
  const wanted = engine.currentSettings?.model.backend;
  if (backend !== "cpu" || wanted === undefined || wanted === "cpu") return undefined;
  const message = engine.currentStatus.message;
  if (/not available/i.test(message)) return message;
  return "No GPU backend is available here: running on the CPU.";
}

export async function takeSnapshot(deps: Pick<ServerContext, "engine" | "sequences">): Promise<DiagnosticsSnapshot> {
  const { engine, sequences } = deps;
  const loaded = loadedOrUndefined(engine);
  const status = engine.currentStatus;
  const stats = sequences.all();
  const sequenceDiagnostics: SequenceDiagnostics[] = stats.map((entry) => ({ ...entry, sinkText: sinkTextOf(loaded, entry) }));
  const memory = process.memoryUsage();
  const processFigures: ProcessDiagnostics = {
    deviceNames: [],
    ram: { total: os.totalmem(), used: os.totalmem() - os.freemem(), free: os.freemem() },
    rssBytes: memory.rss,
    jsHeapBytes: memory.heapUsed,
    budget: memoryGuard.latest,
  };
  let model: ModelDiagnostics | undefined;
  if (loaded) {
    const { llama } = loaded;
    const backend = llama.gpu === false ? "cpu" : llama.gpu;
    processFigures.backend = backend;
    processFigures.deviceNames = status.deviceNames ?? [];
    processFigures.gpuLayers = loaded.model.gpuLayers;
    processFigures.totalLayers = loaded.model.fileInsights.totalLayers;
    processFigures.threads = loaded.threads;
    processFigures.notice = backendNotice(engine, backend);
    const ram = await llama.getRamState();
    processFigures.ram = { total: ram.total, used: ram.total - ram.free, free: ram.free };
    if (llama.gpu !== false) {
      const vram = await llama.getVramState();
      processFigures.vram = { total: vram.total, used: vram.used, free: vram.free };
    }
    const shape = shapeOf(loaded);
    const cells = stats.reduce((sum, entry) => sum + entry.contextSize, 0);
    processFigures.kvCache = { bytes: kvCacheBytes(shape, cells), cells, keyType: "f16", valueType: "f16" };
    const llamaCpp = loaded.llamaCpp as unknown as { GgufFileType: Record<number, string> };
    model = modelDiagnostics(loaded, llamaCpp.GgufFileType);
  }
  return { time: Date.now(), status, sequences: sequenceDiagnostics, process: processFigures, model };
}

export function kvFills(sequences: SequenceRegistry): KvFill[] {
  return sequences.all().map(({ label, kvCells, contextSize, sinks }) => ({ label, kvCells, contextSize, sinks }));
}

export function register(ctx: ServerContext): Disposable {
  const { connection, engine, log, sequences } = ctx;
  const features = new DisposableStore();

  features.add(
    connection.onRequest(DiagnosticsRequest.type, async () => {
      try {
        return await takeSnapshot(ctx);
      } catch (error) {
        log.error(`Diagnostics failed: ${errorMessage(error)}`);
        throw new ResponseError(ErrorCodes.internalError, `Diagnostics failed: ${errorMessage(error)}`);
      }
    }),
  );

  features.add(
    connection.onRequest(ResetCacheRequest.type, async (raw) => {
      const checked = check(resetCacheParams, raw);
      if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
      const { label } = checked.value;
      if (!loadedOrUndefined(engine)) {
        throw new ResponseError(ErrorCodes.modelNotReady, `No model is loaded, so there is no ${label} cache to reset. ${engine.currentStatus.message}`);
      }
      const source = sequences.get(label);
      if (!source) {
        throw new ResponseError(ErrorCodes.invalidParams, `There is no ${label} sequence in this server (known: ${sequences.all().map((s) => s.label).join(", ") || "none"}).`);
      }
      if (!source.reset) throw new ResponseError(ErrorCodes.invalidParams, `The ${label} cache cannot be reset.`);
      const before = source.stats()?.kvCells ?? 0;
      try {
        await source.reset();
      } catch (error) {
        log.error(`Resetting the ${label} cache failed: ${errorMessage(error)}`);
        throw new ResponseError(ErrorCodes.internalError, `Resetting the ${label} cache failed: ${errorMessage(error)}`);
      }
      log.info(`Reset the ${label} KV cache (${before} cells were in use).`);
      return { label, message: `Cleared the ${label} KV cache (${before} cells were in use).` };
    }),
  );

  let lastFill = "";
  const timer = setInterval(() => {
    try {
      const fills = kvFills(sequences);
      const key = JSON.stringify(fills);
      if (key === lastFill) return;
      lastFill = key;
      void connection.sendNotification(KvFillNotification.type, fills);
    } catch (error) {
      log.debug(`KV fill check failed: ${errorMessage(error)}`);
    }
  }, kvFillCheckMs);
  timer.unref();
  features.onDispose(() => clearInterval(timer));
  return features;
}
