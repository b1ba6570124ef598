// Accounting of one StreamingLLM sequence (server/kv/streamingSequence.ts), shared with the client
// through the protocol. Pure type file: no imports.

/** How a sequence makes room when its cache is full. */
export type KvMode =
  /** Attention sinks + rolling window: the oldest window tokens are erased and later positions
   * shifted in place (llama.cpp K-shift); nothing is re-evaluated. */
  | "shift"
  /** The model cannot shift in place: the window is truncated after the sinks and the kept
   * tokens are evaluated again (correct, but costs re-evaluation; see `reevaluatedTokens`). */
  | "reevaluate";

export interface SequenceStats {
  /** Name given by the owner (e.g. "chat", "completion"). */
  label: string;
  /** Attention-sink cells kept forever at the start of the cache (effective value, after bounds). */
  sinks: number;
  /** Cells in use after the sinks (the rolling window). */
  windowTokens: number;
  /** KV cells in use by this sequence (sinks + window). Never more than contextSize - 1. */
  kvCells: number;
  /** Most KV cells this sequence ever held at once (always set by StreamingSequence). */
  kvCellsPeak?: number;
  /** The context's real size (`context.contextSize`, rounded up by llama.cpp). */
  contextSize: number;
  /** Tokens appended to the stream in total (ingested or generated), re-evaluations excluded. */
  tokensSeen: number;
  /** Tokens evicted from the window in total. */
  tokensEvicted: number;
  /** Number of evictions (shifts, or truncations in "reevaluate" mode). */
  shifts: number;
  /** Total milliseconds spent in evictions (the erase + position shift call; llama.cpp re-rotates
   * the keys lazily inside the next decode, which is counted as evaluation time). */
  shiftMs: number;
  /** Milliseconds of the last eviction (0 before the first). */
  lastShiftMs: number;
  /** Prompt (ingest) throughput over this sequence's life, tokens per second (0 before any). */
  promptTokensPerSecond: number;
  /** Generation throughput over this sequence's life, tokens per second (0 before any). */
  generationTokensPerSecond: number;
  /** Tokens evaluated again to make room ("reevaluate" mode) — 0 in "shift" mode. */
  reevaluatedTokens: number;
  /** How this sequence makes room. */
  mode: KvMode;
  /** Whether the model can shift in place. */
  canShift: boolean;
  /** Why not (or why the mode differs), in words for the user; absent when it can shift. */
  reason?: string;
  /** Absolute stream index of the first window token (= tokens before it that are sinks or were
   * evicted). Stream indices count every token of the current stream from 0. Equals the stream
   * length when the window is empty. */
  windowStartAbsolute: number;
  /** Token ids of the sink cells, so their text can be shown. */
  sinkTokens: number[];
  /** Speculative decoding (server/kv/speculation.ts): predicted tokens validated / refuted by
   * the model, and validated / (validated + refuted). Absent without a token predictor. */
  predictions?: { validated: number; refuted: number; acceptance: number };
}
