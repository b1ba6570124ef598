// Cache diagnostics and cache resets (issue 6). Figures are plain numbers (bytes, tokens, ms) so
// they can be copied as JSON into bug reports. Part of the StreamSink protocol.
import { NotificationType, RequestType } from "vscode-languageserver-protocol";
import type { SequenceStats } from "../kvStats";
import type { ServerStatus } from "./status";

/** One StreamingLLM sequence (chat, completion) with its sink tokens as text. */
export interface SequenceDiagnostics extends SequenceStats {
  /** Text of each sink token (`model.detokenize([token], true)`), same order as `sinkTokens`. */
  sinkText: string[];
}

/** The memory guarantee computed before loading (server/model/memoryBudget.ts). */
export interface MemoryBudgetReport {
  /** Context size the budget was computed for (rounded up to a multiple of 256, like llama.cpp). */
  contextSize: number;
  /** Contexts that hold a KV cache of that size (chat and completions each have one). */
  contexts: number;
  keyType: string;
  valueType: string;
  /** KV cache bytes of one context: layers × KV heads × head dim × cells × bytes per type (K + V). */
  kvBytesPerContext: number;
  /** Compute buffers and outputs of one context (node-llama-cpp's estimate minus the KV cache). */
  overheadBytesPerContext: number;
  /** Model weights (file size of the tensors). */
  modelBytes: number;
  /** Model + every context: the process never needs more than this for the model and its caches. */
  neverExceedsBytes: number;
  /** Free memory the budget was checked against (VRAM + RAM with a GPU, RAM on the CPU). */
  availableBytes: number;
  /** "gpu" when a GPU backend is in use (VRAM first, then RAM), else "cpu". */
  placement: "gpu" | "cpu";
  fits: boolean;
  /** Largest context size (multiple of 256) that fits, when the requested one does not. */
  suggestedContextSize?: number;
  /** Why it does not fit / a warning when it is close, for the user. */
  message?: string;
  /** streamsink.context.size as set ("auto" or a number); `contextSize` is what it resolved to. */
  requestedContextSize?: "auto" | number;
  /** The context the model was trained with (GGUF `<arch>.context_length`), when the file says. */
  trainContextSize?: number;
  /** How the context size was chosen, e.g. "auto: the trained context (512)". */
  contextNote?: string;
  /** A context larger than the trained one: what that costs and what to do (warned once per load). */
  contextWarning?: string;
}

export interface ModelDiagnostics {
  name: string;
  path: string;
  fileSizeBytes: number;
  architecture: string;
  /** Total parameters (from the tensors), and e.g. "1.5B". */
  parameters: number;
  parametersText: string;
  /** File type / quantization, e.g. "MOSTLY_Q8_0". */
  quantization: string;
  trainedContextSize?: number;
  layers: number;
  headCount: number;
  headCountKv: number;
  headDimK: number;
  headDimV: number;
  canShift: boolean;
  /** Why the KV cache cannot be shifted in place; absent when it can. */
  shiftReason?: string;
}

export interface ProcessDiagnostics {
  /** Backend in use ("cuda" | "vulkan" | "metal" | "cpu"), once a model is loaded. */
  backend?: string;
  deviceNames: string[];
  /** Layers offloaded to the GPU / total layers of the model. */
  gpuLayers?: number;
  totalLayers?: number;
  threads?: number;
  /** A notice the user should see (e.g. the GPU backend was not available: running on the CPU). */
  notice?: string;
  /** KV cache actually allocated: cells of every live sequence's context and their bytes. */
  kvCache?: { bytes: number; cells: number; keyType: string; valueType: string };
  vram?: { total: number; used: number; free: number };
  ram: { total: number; used: number; free: number };
  /** Resident set size of the server process. */
  rssBytes: number;
  /** The server's JavaScript heap in use (part of the RSS; the rest is llama.cpp and the runtime). */
  jsHeapBytes: number;
  budget?: MemoryBudgetReport;
}

export interface DiagnosticsSnapshot {
  /** Epoch milliseconds when the snapshot was taken. */
  time: number;
  status: ServerStatus;
  sequences: SequenceDiagnostics[];
  process: ProcessDiagnostics;
  /** Absent while no model is loaded (status says why). */
  model?: ModelDiagnostics;
}

/** Sent by the client: a snapshot of the KV caches, the process and the model. Never fails for lack of a model. */
export namespace DiagnosticsRequest {
  export const method = "streamsink/diagnostics" as const;
  export const type = new RequestType<Record<string, never>, DiagnosticsSnapshot, void>(method);
}

export interface ResetCacheParams {
  /** The sequence's label: "chat" or "completion". */
  label: string;
}

export interface ResetCacheResult {
  label: string;
  message: string;
}

/** Sent by the client: drops one feature's cached KV (Reset Chat Cache / Reset Completion Cache). */
export namespace ResetCacheRequest {
  export const method = "streamsink/resetCache" as const;
  export const type = new RequestType<ResetCacheParams, ResetCacheResult, void>(method);
}

/** KV fill of one sequence, for the status bar. */
export interface KvFill {
  label: string;
  kvCells: number;
  contextSize: number;
  sinks: number;
}

/** Sent by the server when a sequence's KV fill changes (checked once a second; nothing is sent while idle). */
export namespace KvFillNotification {
  export const method = "streamsink/kvFill" as const;
  export const type = new NotificationType<KvFill[]>(method);
}
