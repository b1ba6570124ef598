// Messages that serve only tests, benchmarks and diagnostics: the chat stream's state and the inline
// completion accounting. Exported as the `bench` namespace of common/protocol (`bench.ChatStateRequest`);
// method names are those of the rest of the protocol.
import { RequestType } from "vscode-languageserver-protocol";
import type { SequenceStats } from "../kvStats";
import type { ChatRestoreReport, ChatWindowState } from "./chat";

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

// --- inline completion accounting ---
// The completions themselves use the standard LSP `textDocument/inlineCompletion`; this message
// only exposes their accounting.

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
