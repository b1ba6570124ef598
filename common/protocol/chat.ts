// The StreamSink protocol: every custom LSP message between the extension host (client) and the
// language server, one namespace per message, each with its method name, its typed message and a
// note saying which side sends it. Imported by both sides; never imports `vscode`.
import { NotificationType, RequestType } from "vscode-languageserver-protocol";
import type { SequenceStats } from "./kvStats";
import type { Settings } from "./settings";

/** What the server is doing, for the status bar. */
export type ServerState = "starting" | "noModel" | "loading" | "ready" | "error";

export interface ServerStatus {
  state: ServerState;
  /** Human message: what happened and, on error, what to do about it. */
  message: string;
  /** Model file base name without extension, when a model is configured. */
  modelName?: string;
  modelPath?: string;
  /** Backend in use once loaded: "cuda" | "vulkan" | "metal" | "cpu". */
  backend?: string;
  /** GPU device names reported by llama.cpp (empty on CPU). */
  deviceNames?: string[];
  /** Model loading progress 0..1 while state is "loading". */
  progress?: number;
  /** While ready: something about the loaded configuration the user should know (shown once). */
  warning?: string;
}

/** Sent by the server whenever its state changes (loading, ready, error). */
export namespace ServerStatusNotification {
  export const method = "streamsink/serverStatus" as const;
  export const type = new NotificationType<ServerStatus>(method);
}

/**
 * What the client sends as `initializationOptions` and with ConfigureNotification: the sanitised
 * settings plus things that are not user settings (kept out of settings sanitising).
 */
export type ServerConfiguration = Settings & {
  /**
   * Absolute folder where the server may keep files (the extension's global storage + "/kv": chat KV
   * snapshots). Absent: nothing is saved. A ConfigureNotification without it keeps the previous one.
   */
  storagePath?: string;
};

/**
 * Sent by the client after start and whenever a setting changes: the whole sanitised settings
 * object (and the storage folder). The server applies it (reloading the model or contexts when needed).
 */
export namespace ConfigureNotification {
  export const method = "streamsink/configure" as const;
  export const type = new NotificationType<ServerConfiguration>(method);
}

export interface GenerateParams {
  prompt: string;
  /** Upper bound on generated tokens (1..4096). */
  maxTokens: number;
  /** Sampling temperature; 0 = greedy. */
  temperature?: number;
}

export interface GenerateResult {
  text: string;
  promptTokens: number;
  generatedTokens: number;
  durationMs: number;
}

/**
 * Sent by the client: a plain one-shot completion of `prompt` on a scratch sequence (the first
 * end-to-end request; chat and inline completions have their own messages). Cancellable.
 */
export namespace GenerateRequest {
  export const method = "streamsink/generate" as const;
  export const type = new RequestType<GenerateParams, GenerateResult, void>(method);
}

/** Error codes the server uses in ResponseError so the client can explain them. */
export const ErrorCodes = {
  /** No model is loaded (none configured, still loading, or failed to load). */
  modelNotReady: -32_001,
  /** The request's parameters are invalid. */
  invalidParams: -32_602,
} as const;

// --- diagnostics ---
// Cache diagnostics, cache resets and model downloads (issue 6). Figures are plain numbers (bytes,
// tokens, ms) so they can be copied as JSON into bug reports.

/** One StreamingLLM sequence (chat, completion) with its sink tokens as text. */
export interface SequenceDiagnostics extends SequenceStats {
  /** Text of each sink token (`model.detokenize([token], true)`), same order as `sinkTokens`. */
  sinkText: string[];
}

/** The memory guarantee computed before loading (server/memoryBudget.ts). */
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

export interface DownloadModelParams {
  /** `hf:<user>/<repo>:<quant>`, `hf:<user>/<repo>/<file>.gguf[#branch]`, or an http(s) URL of a .gguf file. */
  uri: string;
  /** Absolute folder to store the model in (the extension's global storage `models` folder). */
  directory: string;
  /** Expected SHA-256 (hex) of the file; for hf: URIs the hub's own checksum is used when this is absent. */
  sha256?: string;
  /** Identifies this download in DownloadProgressNotification. */
  downloadId: string;
}

export interface DownloadModelResult {
  /** Absolute path of the verified model file. */
  path: string;
  sizeBytes: number;
  sha256: string;
  /** Where the expected checksum came from ("given", "hub", or "none" when only the size could be checked). */
  checksumSource: "given" | "hub" | "none";
  /** The download continued a partial file left by an earlier, interrupted one. */
  resumed: boolean;
  /** The file was already there and verified: nothing was downloaded. */
  alreadyPresent: boolean;
}

/** Sent by the client: downloads and verifies a model (resumable; cancel the request to stop it, keeping the partial file). */
export namespace DownloadModelRequest {
  export const method = "streamsink/downloadModel" as const;
  export const type = new RequestType<DownloadModelParams, DownloadModelResult, void>(method);
}

export interface DownloadProgress {
  downloadId: string;
  phase: "resolving" | "downloading" | "verifying";
  downloadedBytes: number;
  /** 0 while unknown. */
  totalBytes: number;
}

/** Sent by the server while a DownloadModelRequest runs. */
export namespace DownloadProgressNotification {
  export const method = "streamsink/downloadProgress" as const;
  export const type = new NotificationType<DownloadProgress>(method);
}

// --- chat ---
// The side-panel chat (issue 4). The server holds ONE chat stream in a StreamingLLM sequence: the
// chat template's BOS + system prompt (+ pinned messages) are the attention sinks, every turn is
// tokenized once and appended, and the oldest turns are evicted and shifted in place when the
// window fills — never re-tokenized, re-evaluated or summarized. Validation: server/chat/params.ts.

/** One earlier message of a chat, as the client stores it. */
export interface ChatHistoryMessage {
  id: string;
  role: "user" | "assistant";
  /** What the model saw (for a user message: attachments included). */
  text: string;
  pinned?: boolean;
}

/** Which messages of the current chat the model can still see. */
export interface ChatWindowState {
  chatId: string;
  /**
   * The oldest message (in the order the server read them, pins aside) that the model still sees, wholly
   * or partly. Every message of the chat before it has left the window (evicted, or not restored), except
   * pinned ones (pinnedInSink / pinnedPending). Absent: no message has left. A boundary, not a list, so
   * this notification stays the same size however long the chat grows.
   */
  firstInWindow?: string;
  /** Messages outside the window that are newer than firstInWindow (rare; at most 64). */
  outsideAfter: string[];
  /** How many messages of the chat are outside the window. */
  outsideCount: number;
  /** Messages whose oldest tokens have been evicted: the model sees only their end. */
  partial: string[];
  /** Pinned messages already held in the sink region (never evicted). */
  pinnedInSink: string[];
  /** Pinned messages still in the window; they join the sink region when the eviction front reaches them. */
  pinnedPending: string[];
  /** Tokens the pinned messages use (in the sink or reserved for it). */
  pinnedTokens: number;
  /** Most tokens pinned messages may use (a quarter of the window). */
  pinBudget: number;
  /** Sink tokens of the template (BOS + system prompt), without pins. */
  templateSinks: number;
  kvCells: number;
  contextSize: number;
  shifts: number;
  tokensEvicted: number;
}

export interface ChatSendParams {
  /** The chat this message belongs to (1..128 chars). A different chat than the server holds starts a new stream. */
  chatId: string;
  userMessageId: string;
  assistantMessageId: string;
  /** The user's message as the model should see it (attachments included). */
  text: string;
  /**
   * The chat's earlier messages, oldest first. Used only when the server does not hold this chat
   * (first message after a restart, or another chat was open): pinned ones and the newest that fit
   * are evaluated into a new stream. Ignored otherwise.
   */
  history: ChatHistoryMessage[];
  /** Most tokens of the answer (1..4096, default 512). */
  maxTokens?: number;
  /** Sampling temperature (0..2, default 0.7); 0 = greedy. */
  temperature?: number;
  /** Fixed sampling seed (tests and benchmarks). */
  seed?: number;
}

export interface ChatSendResult {
  chatId: string;
  assistantMessageId: string;
  /** The answer as shown (stop text removed). */
  text: string;
  stopReason: "end" | "maxTokens" | "cancelled";
  /** With stopReason "cancelled": who cancelled (absent = the client's request was cancelled: the user's Stop). */
  cancelReason?: ChatCancelReason;
  /** Tokens of the new user turn (template included) appended to the stream. */
  promptTokens: number;
  generatedTokens: number;
  /** Tokens evaluated to rebuild a stream from `history` (0 when the server held the chat, or when it
   * was restored from a KV snapshot that holds every stored message). */
  restoredTokens: number;
  /** Present when this message (re)created the chat's stream: how it was restored. */
  restore?: ChatRestoreReport;
  /** Tokens decoded on the chat sequence for this message, restoring included: node-llama-cpp's token
   * meter (input + output) less the cells it also charges as input for shifting them in place. */
  decodedTokens: number;
  promptMs: number;
  generationMs: number;
  durationMs: number;
  /** With stopReason "cancelled": ms from the cancellation's arrival in the server to the sequence being free again. */
  stopLatencyMs?: number;
  /** Most KV cells the chat sequence held during this answer (checked after every token). */
  kvCellsMax: number;
  window: ChatWindowState;
  stats: SequenceStats;
}

/** Why an answer ended early: the user's Stop, a settings or model change that unloaded the chat's
 * context, the chat being reset; "serverRestarted" and "reload" are set by the client (the server was
 * gone, or the window closed while the answer streamed). */
export type ChatCancelReason = "stop" | "settingsChanged" | "modelChanged" | "reset" | "serverRestarted" | "reload";

/** How a chat's stream was (re)created after a restart, a reload or a switch of chats. */
export interface ChatRestoreReport {
  /** "snapshot": the KV state was loaded from the saved snapshot (nothing re-evaluated);
   * "history": rebuilt by evaluating the stored messages (`note` says why no snapshot was used). */
  source: "snapshot" | "history";
  /** KV cells loaded from the snapshot (0 when rebuilt). */
  snapshotTokens: number;
  /** With "snapshot": sha256 (hex) of JSON.stringify(the loaded sequence's token ids). */
  tokensSha256?: string;
  /** The token meter right after loading the snapshot (input and output tokens: 0 = nothing evaluated). */
  loadMeter: { input: number; output: number };
  /** The stream's length (every token appended since the chat began) once loaded. */
  streamTokens: number;
  /** Tokens evaluated for stored messages: those newer than the snapshot, or all rebuilt ones. */
  evaluatedTokens: number;
  /** Why the snapshot was not used (none saved, another chat, another model, other settings…). */
  note?: string;
}

/** Sent by the client: appends a user message and generates the answer; resolves when it ends. Cancel the request to stop. */
export namespace ChatSendRequest {
  export const method = "streamsink/chat/send" as const;
  export const type = new RequestType<ChatSendParams, ChatSendResult, void>(method);
}

export interface ChatToken {
  chatId: string;
  assistantMessageId: string;
  /** New text of the answer since the previous notification. */
  delta: string;
}

/** Sent by the server while a ChatSendRequest generates: the answer's text as it streams. */
export namespace ChatTokenNotification {
  export const method = "streamsink/chat/token" as const;
  export const type = new NotificationType<ChatToken>(method);
}

/** Sent by the server when the window moves (an eviction mid-answer, a pin, a reset). */
export namespace ChatWindowNotification {
  export const method = "streamsink/chat/window" as const;
  export const type = new NotificationType<ChatWindowState>(method);
}

export interface ChatResetParams {
  /** Reset only if the server holds this chat; absent = whatever it holds. */
  chatId?: string;
}

/** Sent by the client (New chat, deleting a chat): stops any answer and drops the chat stream. */
export namespace ChatResetRequest {
  export const method = "streamsink/chat/reset" as const;
  export const type = new RequestType<ChatResetParams, { reset: boolean }, void>(method);
}

export interface ChatPinParams {
  chatId: string;
  messageId: string;
  pinned: boolean;
}

export interface ChatPinResult {
  /** false when the pin could not be applied; `message` says why. */
  ok: boolean;
  message?: string;
  window?: ChatWindowState;
}

/** Sent by the client: pins (keeps in the sink region) or unpins a message of the chat the server holds. */
export namespace ChatPinRequest {
  export const method = "streamsink/chat/pin" as const;
  export const type = new RequestType<ChatPinParams, ChatPinResult, void>(method);
}

export interface ChatStateResult {
  chatId?: string;
  window?: ChatWindowState;
  stats?: SequenceStats;
  /** Tokens of the current stream's sink cells (to check they never change). */
  sinkTokens: number[];
  /** Resident set size of the server process. */
  rssBytes: number;
  /** How the current stream was created, when it was restored (snapshot or history). */
  restore?: ChatRestoreReport;
  /** The last KV snapshot this process saved (absent: none yet, or no storage folder). */
  snapshot?: { chatId: string; tokens: number; savedAt: string };
}

/** Sent by the client (tests, benchmarks, diagnostics): the chat stream's state. */
export namespace ChatStateRequest {
  export const method = "streamsink/chat/state" as const;
  export const type = new RequestType<Record<string, never>, ChatStateResult, void>(method);
}

// --- inline completions ---
// The completions themselves use the standard LSP `textDocument/inlineCompletion`; this message
// only exposes their accounting (tests, benchmarks, diagnostics).

/** How one inline completion request ended on the server. */
export type CompletionOutcome =
  /** The model wrote a suggestion (possibly empty after the stop rules). */
  | "completed"
  /** Answered from the server's suggestion LRU, no model call. */
  | "cacheHit"
  /** Cancelled (or superseded by a newer request) while the model was working on it. */
  | "cancelled"
  /** Cancelled or superseded before it reached the model. */
  | "dropped"
  /** Completions disabled, unknown document, or no model ready: answered empty. */
  | "skipped"
  | "error";

export interface CompletionRequestRecord {
  /** Increasing per server process. */
  id: number;
  outcome: CompletionOutcome;
  /** Server-side time from arrival to answer. */
  ms: number;
  /** "fim" or "prefix" prompt (model calls only). */
  mode?: "fim" | "prefix";
  /** Prompt length in tokens (model calls only). */
  promptTokens: number;
  /** Prompt tokens already in the completion sequence's cache (common prefix), not evaluated. */
  reusedTokens: number;
  /** Prompt tokens evaluated for this request (= promptTokens - reusedTokens when not cancelled). */
  evaluatedTokens: number;
  generatedTokens: number;
  /** Input tokens charged to the completion sequence's token meter during this request (node-llama-cpp
   * counts evaluated prompt tokens there; equals evaluatedTokens unless an eviction re-evaluated some). */
  meterInputTokens: number;
  /** Characters of the suggestion returned. */
  suggestionChars: number;
}

export interface CompletionStatsParams {
  /** Only records with a larger id (default: all kept, at most the last 1024). */
  sinceId?: number;
  /** Start a new `maxEventLoopStallMs` window after answering (e.g. once the model has loaded). */
  resetEventLoopStall?: boolean;
}

export interface CompletionStatsResult {
  requests: number;
  modelCalls: number;
  cacheHits: number;
  cancelled: number;
  dropped: number;
  errors: number;
  /** Completion sequences created and disposed over the process' life; live = created - disposed. */
  sequencesCreated: number;
  sequencesDisposed: number;
  liveSequences: number;
  /** Whether the loaded model has FIM tokens (null: no model). */
  fim: boolean | null;
  /** The completion sequence's StreamingLLM accounting (absent while it does not exist). */
  kv?: SequenceStats;
  /** Resident set size of the server process. */
  rssBytes: number;
  /** The request the model is working on now, if any. */
  active?: { id: number; phase: "prompt" | "generating"; generatedTokens: number };
  recent: CompletionRequestRecord[];
  /** Longest the server's event loop was blocked, in ms, since it started or the last reset. */
  maxEventLoopStallMs?: number;
}

/** Sent by the client (tests, benchmarks, diagnostics): the inline completion accounting. */
export namespace CompletionStatsRequest {
  export const method = "streamsink/completion/stats" as const;
  export const type = new RequestType<CompletionStatsParams, CompletionStatsResult, void>(method);
}

// --- inline completions in huge documents ---
// A document larger than `maxSyncedDocumentChars` is never synced to the server (parsing a
// multi-megabyte didOpen alone blocks the server's event loop): the client keeps it to itself and
// asks for completions with a bounded window of the text around the cursor instead.

/** Documents longer than this (characters) are not synced; completions in them use windows. */
export const maxSyncedDocumentChars = 512 * 1024;
/** Characters of a completion window before and after the cursor (the prompt needs far fewer). */
export const completionWindowChars = { before: 64 * 1024, after: 8 * 1024 } as const;
/** Window starts are multiples of this, so consecutive keystrokes share one (KV cache reuse). */
export const completionWindowGrid = 4096;

export interface InlineCompletionWindowParams {
  /** The document's URI (keys the server's per-document state). */
  uri: string;
  /** text[offset] is the cursor; text is a window of the document (at most before + after chars). */
  text: string;
  offset: number;
}

/** Sent by the client: an inline completion in a window of an unsynced (huge) document. */
export namespace InlineCompletionWindowRequest {
  export const method = "streamsink/completion/window" as const;
  export const type = new RequestType<InlineCompletionWindowParams, { items: { insertText: string }[] } | null, void>(method);
}

/** The window of `text` sent for a cursor at `offset`: grid-aligned start, bounded both ways. */
export function completionWindow(text: { readonly length: number }, offset: number): { start: number; end: number } {
  const start = Math.max(0, Math.floor((offset - completionWindowChars.before) / completionWindowGrid) * completionWindowGrid);
  return { start, end: Math.min(text.length, offset + completionWindowChars.after) };
}
