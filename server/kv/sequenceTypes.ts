// The vocabulary of a StreamingSequence (streamingSequence.ts): its options, the results of its
// operations, the shift events it reports and its errors. Types only, plus two error classes.
import type { Token, TokenPredictor } from "node-llama-cpp";
import type { KvMode } from "../../common/kvStats";
import type { TokenRange } from "./policy";
import type { ShiftCapability } from "./shiftCapability";

export interface ShiftEvent {
  /** The evicted cell range (before eviction). */
  range: TokenRange;
  evicted: number;
  /** Duration of the eviction call (in "reevaluate" mode: including the re-evaluation). */
  ms: number;
  mode: KvMode;
  /** Tokens evaluated again to perform it (0 in "shift" mode). */
  reevaluated: number;
  /** "engine": evicted by this class before an evaluation; "library": node-llama-cpp called the
   * installed strategy itself (only when something evaluated on the raw sequence; not timed). */
  trigger: "engine" | "library";
}

export interface StreamingSequenceOptions {
  /** Attention-sink tokens never evicted (bounded by policy.boundSinks). */
  sinks: number;
  /** Cells evicted per shift; 0 or absent = automatic (enough to make room plus a margin). */
  shiftSize?: number;
  /** From shiftCapability.ts; decides "shift" or "reevaluate" mode. */
  capability: ShiftCapability;
  /** Owner's name for logs and stats ("chat", "completion", ...). */
  label: string;
  /**
   * With 0 sinks, evict from cell 0 in place (plain window attention, the benchmark baseline).
   * node-llama-cpp re-evaluates everything when cell 0 is erased through its public API, so this
   * uses its internals (llamaInternals.ts, checked at load against 3.22.x); without it, or on
   * another version (stats().reason says so), 0 sinks means "reevaluate".
   * Single-sequence contexts only.
   */
  zeroSinkInPlace?: boolean;
  /** Called after every eviction (benchmarks collect the durations). */
  onShift?: (event: ShiftEvent) => void;
  /**
   * Keep the event loop turning while generating (kv/hotEventLoop.ts). Default: when the model's
   * layers run on a GPU; never useful on the CPU backend.
   */
  hotEventLoop?: boolean;
  /** Speculative decoding in `generate` (speculation.ts builds it); disposed with the sequence. */
  tokenPredictor?: TokenPredictor;
}

/** Evaluates one chunk of an ingest in place of the plain evaluation (bench/scoring.ts reads logits). */
export type ChunkEvaluator = (chunk: readonly Token[], offset: number) => Promise<void>;

export interface IngestOptions {
  signal?: AbortSignal;
  /**
   * Evaluates each chunk instead of the plain evaluation; `offset` is the index of `chunk[0]` in
   * the ingested tokens. It must evaluate exactly `chunk` on `sequence`, with the contextShift
   * options `streamingContextShift` gives for this sequence. (Log-prob scoring: bench/scoring.ts.)
   */
  evaluateChunk?: ChunkEvaluator;
}

export interface IngestResult {
  /** Tokens evaluated (= tokens.length unless aborted, which throws). */
  evaluated: number;
  /** Tokens evicted while ingesting. */
  evicted: number;
}

export interface GenerateOptions {
  maxTokens: number;
  /** Tokens to append before generating (the prompt, or the rest of it). Without it, generation
   * continues from the last cached token (which is evaluated once more to get its logits). */
  input?: readonly Token[];
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed?: number;
  signal?: AbortSignal;
  /** Stop after yielding one of these tokens. */
  stopOnTokens?: readonly Token[];
  /** Stop after yielding a token when this returns true (gets all tokens generated so far). */
  shouldStop?: (token: Token, generated: readonly Token[]) => boolean;
}

export interface SyncResult {
  /** Cached tokens kept (common prefix). */
  reused: number;
  /** Tokens evaluated to reach the target. */
  evaluated: number;
}

export class StreamingSequenceDisposedError extends Error {
  constructor(label: string) {
    super(`StreamingSequence "${label}" is disposed.`);
    this.name = "StreamingSequenceDisposedError";
  }
}

export class StreamingSequenceBusyError extends Error {
  constructor(label: string, running: string) {
    super(`StreamingSequence "${label}" is busy (${running} in progress); wait for it or cancel it first.`);
    this.name = "StreamingSequenceBusyError";
  }
}
