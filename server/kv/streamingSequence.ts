// StreamingLLM on one node-llama-cpp LlamaContextSequence: attention sinks + a rolling window,
// evicted in ONE range after the sinks and shifted in place (llama.cpp K-shift), never re-evaluated.
//
// Invariant: the first `sinks` cells are never evicted. Before every evaluation that would not fit,
// the engine evicts `[sinks, sinks + k)` itself (policy.ts decides k), so evictions are counted and
// timed exactly. A custom contextShift strategy is installed as well, as a safety net for any
// evaluation that still reaches node-llama-cpp's own shift: it always returns the same one range,
// never an empty list (an empty list makes the library erase `[0, size)`: the sinks).
//
// Models that cannot shift in place (shiftCapability.ts) run in "reevaluate" mode: the window is
// truncated after the sinks and the kept tokens are evaluated again. Same visible tokens, more cost,
// never an abort.
//
// Only node-llama-cpp TYPES are imported here; the caller owns getLlama/model/context.

import { holdEventLoopHot } from "./hotEventLoop";
import type {
  ContextShiftOptions,
  ContextTokensDeleteRange,
  ControlledEvaluateInputItem,
  LlamaContext,
  LlamaContextSequence,
  Token,
  TokenPredictor,
} from "node-llama-cpp";
import type { KvMode, SequenceStats } from "../../common/kvStats";
import {
  boundSinks,
  emptyAccounting,
  planEviction,
  planStep,
  recordEviction,
  sequenceCapacity,
  tokensPerSecond,
  type EvictionCost,
  type KvAccounting,
  type TokenRange,
} from "./policy";
import type { ShiftCapability } from "./shiftCapability";
import { predictionStats, primePredictor } from "./speculation";

export type { SequenceStats } from "../../common/kvStats";

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
   * uses its internals (checked at run time against 3.22.1); without it, 0 sinks means "reevaluate".
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

export interface IngestOptions {
  signal?: AbortSignal;
  /** Return log p(tokens[i+1] | everything before) for i in [0, tokens.length - 1). */
  score?: boolean;
  /** Return the log-probabilities of every vocabulary token to follow the last ingested token. */
  nextDistribution?: boolean;
}

export interface IngestResult {
  /** Tokens evaluated (= tokens.length unless aborted, which throws). */
  evaluated: number;
  /** Tokens evicted while ingesting. */
  evicted: number;
  /** With `score`: length tokens.length - 1. */
  logProbs?: Float64Array;
  /** With `nextDistribution`: token id → log-probability. */
  nextLogProbs?: Map<Token, number>;
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

/**
 * What a StreamingSequence knows beyond llama.cpp's KV state: which stream position every cell
 * holds, the next position, the sink count and the accounting. Saved next to a KV snapshot
 * (server/kv/snapshot.ts) so a sequence whose KV state is loaded back continues exactly where the
 * saved one was, without evaluating anything.
 */
export interface StreamingSequenceState {
  /** Absolute stream index of every cell, in cell order (strictly increasing). */
  cellStreamIndices: number[];
  /** Absolute stream index the next new token gets. */
  streamNext: number;
  sinks: number;
  accounting: KvAccounting;
  kvCellsPeak: number;
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

/**
 * The contextShift options that keep the StreamingLLM invariant for a sequence whose engine is
 * resolved lazily (the sequence must exist before the engine). Pass to `context.getSequence`.
 */
export function streamingContextShift(getEngine: () => StreamingSequence | undefined): ContextShiftOptions {
  return {
    size: (sequence) => getEngine()?.librarySize(sequence) ?? 1,
    strategy: ({ sequence }) => {
      const engine = getEngine();
      if (engine == null) {
        throw new Error("StreamingSequence: the sequence filled up before its engine was attached.");
      }
      return engine.libraryShift(sequence);
    },
  };
}

interface SequenceInternals {
  _context?: {
    _ctx?: {
      removeTokenCellsFromSequence?: (id: number, start: number, end: number) => boolean;
      shiftSequenceTokenCells?: (id: number, start: number, end: number, delta: number) => void;
    };
  };
  _sequenceId?: number;
  _contextTokens?: Token[];
  _nextTokenIndex?: number;
}

/** Erases cells [0, count) and shifts the rest down, in place (see zeroSinkInPlace). */
function eraseHeadInPlace(sequence: LlamaContextSequence, count: number): void {
  const s = sequence as unknown as SequenceInternals;
  const native = s._context?._ctx;
  if (
    typeof native?.removeTokenCellsFromSequence !== "function" ||
    typeof native.shiftSequenceTokenCells !== "function" ||
    typeof s._sequenceId !== "number" ||
    !Array.isArray(s._contextTokens) ||
    typeof s._nextTokenIndex !== "number"
  ) {
    throw new Error(
      "zeroSinkInPlace needs node-llama-cpp 3.22 internals (LlamaContextSequence._context._ctx, _contextTokens, _nextTokenIndex), which this version lacks.",
    );
  }
  const next = s._nextTokenIndex;
  if (!native.removeTokenCellsFromSequence(s._sequenceId, 0, count)) {
    throw new Error(`llama.cpp refused to remove cells [0, ${count}) in place.`);
  }
  if (count < next) native.shiftSequenceTokenCells(s._sequenceId, count, next, -count);
  s._contextTokens.splice(0, count);
  s._nextTokenIndex = next - count;
}

function now(): number {
  return performance.now();
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted.", "AbortError");
}

export class StreamingSequence {
  readonly label: string;
  readonly context: LlamaContext;
  readonly sequence: LlamaContextSequence;
  readonly capability: ShiftCapability;

  private sinkCount: number;
  private sinkReason: string | undefined;
  private readonly shiftSize: number;
  private readonly zeroSinkInPlace: boolean;
  private readonly onShift: ((event: ShiftEvent) => void) | undefined;
  private readonly acc: KvAccounting = emptyAccounting();
  /** Absolute stream index of every cell, parallel to sequence.contextTokens. */
  private cellAbs: number[] = [];
  /** Absolute stream index the next new token gets. */
  private streamNext = 0;
  /** Set while one re-opened cell is re-evaluated (generate without input). */
  private reopenedAbs: number | undefined;
  private running: string | undefined;
  private kvCellsPeak = 0;
  private isDisposed = false;
  private readonly hotEventLoop: boolean;

  private constructor(context: LlamaContext, sequence: LlamaContextSequence, options: StreamingSequenceOptions) {
    this.context = context;
    this.sequence = sequence;
    this.label = options.label;
    this.capability = options.capability;
    this.shiftSize = options.shiftSize && options.shiftSize > 0 ? Math.floor(options.shiftSize) : 0;
    this.zeroSinkInPlace = options.zeroSinkInPlace === true;
    this.onShift = options.onShift;
    this.hotEventLoop = options.hotEventLoop ?? (context.model.llama.gpu !== false && context.model.gpuLayers > 0);
    const bound = boundSinks(options.sinks, context.contextSize);
    this.sinkCount = bound.sinks;
    this.sinkReason = bound.reason;
    this.cellAbs = sequence.contextTokens.map((_, i) => i);
    this.streamNext = this.cellAbs.length;
  }

  /** Takes a new sequence from `context` (with the StreamingLLM shift strategy installed). */
  static async create(context: LlamaContext, options: StreamingSequenceOptions): Promise<StreamingSequence> {
    if (context.disposed) throw new Error(`Cannot create StreamingSequence "${options.label}": the context is disposed.`);
    if (context.sequencesLeft === 0) {
      throw new Error(`Cannot create StreamingSequence "${options.label}": the context has no free sequence left.`);
    }
    const holder: { engine?: StreamingSequence } = {};
    const sequence = context.getSequence({
      contextShift: streamingContextShift(() => holder.engine),
      tokenPredictor: options.tokenPredictor,
    });
    holder.engine = new StreamingSequence(context, sequence, options);
    return holder.engine;
  }

  get disposed(): boolean {
    return this.isDisposed || this.sequence.disposed;
  }

  /** Effective sink count. */
  get sinks(): number {
    return this.sinkCount;
  }

  get mode(): KvMode {
    return this.cost();
  }

  /** Tokens in the cache now (sinks + window). */
  get cachedTokens(): readonly Token[] {
    return this.sequence.contextTokens;
  }

  /**
   * Absolute stream index of every cached cell, in cell order (sinks first), a copy. Lets an owner
   * map its own segments (chat messages) onto what the cache still holds. (Added for the chat.)
   */
  cellStreamIndices(): number[] {
    return [...this.cellAbs];
  }

  async dispose(): Promise<void> {
    if (this.isDisposed) return;
    this.isDisposed = true;
    if (!this.sequence.disposed) await this.sequence.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** Changes the sink count (e.g. to pin a system prompt); bounded by policy. Returns what is used. */
  setSinkCount(requested: number): { sinks: number; reason?: string } {
    this.ensureOpen();
    const bound = boundSinks(requested, this.context.contextSize);
    this.sinkCount = bound.sinks;
    this.sinkReason = bound.reason;
    return bound;
  }

  stats(): SequenceStats {
    const contextSize = this.context.contextSize;
    const kvCells = this.sequence.disposed ? 0 : this.sequence.nextTokenIndex;
    const sinkCells = Math.min(this.sinkCount, kvCells);
    const mode = this.cost();
    const reasons = [this.sinkReason, this.modeReason(mode)].filter((r): r is string => r != null);
    return {
      label: this.label,
      sinks: this.sinkCount,
      windowTokens: kvCells - sinkCells,
      kvCells,
      kvCellsPeak: Math.max(this.kvCellsPeak, kvCells),
      contextSize,
      tokensSeen: this.acc.tokensSeen,
      tokensEvicted: this.acc.tokensEvicted,
      shifts: this.acc.shifts,
      shiftMs: this.acc.shiftMs,
      lastShiftMs: this.acc.lastShiftMs,
      promptTokensPerSecond: tokensPerSecond(this.acc.promptTokens, this.acc.promptMs),
      generationTokensPerSecond: tokensPerSecond(this.acc.generatedTokens, this.acc.generationMs),
      reevaluatedTokens: this.acc.reevaluatedTokens,
      mode,
      canShift: this.capability.canShift,
      ...(reasons.length > 0 ? { reason: reasons.join(" ") } : {}),
      windowStartAbsolute: sinkCells < this.cellAbs.length ? this.cellAbs[sinkCells]! : this.streamNext,
      sinkTokens: this.sequence.disposed ? [] : this.sequence.contextTokens.slice(0, sinkCells),
      predictions: predictionStats(this.sequence),
    };
  }

  /** Appends tokens (prompt evaluation), evicting after the sinks as needed, in chunks that fit. */
  async ingest(tokens: readonly Token[], options: IngestOptions = {}): Promise<IngestResult> {
    return this.exclusive("ingest", () => this.ingestUnlocked(tokens, options));
  }

  /**
   * Makes the cache hold `tokens` (a completion prompt): keeps the longest cached prefix that is
   * exactly `tokens[0..p)` at its own positions, erases the rest and evaluates `tokens[p..]`.
   * After evictions only the sinks can be such a prefix (evicted tokens cannot be verified).
   */
  async syncTo(tokens: readonly Token[], options: { signal?: AbortSignal } = {}): Promise<SyncResult> {
    return this.exclusive("syncTo", async () => {
      const cached = this.sequence.contextTokens;
      let p = 0;
      const limit = Math.min(cached.length, tokens.length);
      while (p < limit && this.cellAbs[p] === p && cached[p] === tokens[p]) p++;
      if (p < cached.length) await this.sequence.eraseContextTokenRanges([{ start: p, end: cached.length }]);
      this.cellAbs.length = Math.min(this.cellAbs.length, this.sequence.nextTokenIndex);
      this.streamNext = p;
      if (this.sequence.nextTokenIndex !== p) {
        // The library could not keep the prefix (recurrent state): it was re-evaluated from scratch.
        this.cellAbs = this.sequence.contextTokens.map((_, i) => i);
      }
      const rest = tokens.slice(p);
      if (rest.length > 0) await this.ingestUnlocked(rest, { signal: options.signal });
      return { reused: p, evaluated: rest.length };
    });
  }

  /**
   * Samples and yields tokens one by one; evicts after the sinks between tokens as needed. Stops at
   * maxTokens, an end-of-generation token (not yielded), a stop token / shouldStop (yielded), or
   * the signal (checked before every token). Every yielded token ends up in the cache.
   */
  async *generate(options: GenerateOptions): AsyncGenerator<Token, void, void> {
    this.ensureOpen();
    if (this.running != null) throw new StreamingSequenceBusyError(this.label, this.running);
    this.running = "generate";
    const hot = this.hotEventLoop ? holdEventLoopHot() : undefined;
    const generated: Token[] = [];
    let iterator: AsyncGenerator<Token, void, void | Token | Token[]> | undefined;
    /** The token the first decode evaluates, until that decode has happened. */
    let pendingFirst: Token | undefined;
    try {
      const input = options.input ?? [];
      if (input.length > 1) await this.ingestUnlocked(input.slice(0, -1), { signal: options.signal });
      let first: Token;
      if (input.length > 0) {
        first = input[input.length - 1]!;
      } else {
        const n = this.sequence.nextTokenIndex;
        if (n === 0) throw new Error(`StreamingSequence "${this.label}": nothing to generate from; pass input tokens.`);
        first = this.sequence.contextTokens[n - 1]!;
        this.reopenedAbs = this.cellAbs[n - 1];
        await this.sequence.eraseContextTokenRanges([{ start: n - 1, end: n }]);
        this.cellAbs.length = this.sequence.nextTokenIndex;
        if (this.sequence.nextTokenIndex !== n - 1) this.resyncAfterLibraryReevaluation();
        this.acc.reevaluatedTokens += 1;
      }
      pendingFirst = first;
      await this.makeRoom(1);
      primePredictor(this.sequence, [first]);
      iterator = this.sequence.evaluate([first], {
        temperature: options.temperature ?? 0,
        topK: options.topK,
        topP: options.topP,
        minP: options.minP,
        seed: options.seed,
        contextShift: this.shiftOptions(),
      });
      const stopTokens = new Set(options.stopOnTokens ?? []);
      while (generated.length < options.maxTokens) {
        if (options.signal?.aborted) break;
        if (generated.length > 0) await this.makeRoom(1);
        const t0 = now();
        hot?.touch();
        const step = await iterator.next();
        pendingFirst = undefined;
        this.acc.generationMs += now() - t0;
        this.syncCells();
        if (step.done) break;
        generated.push(step.value);
        this.acc.generatedTokens += 1;
        yield step.value;
        if (stopTokens.has(step.value) || options.shouldStop?.(step.value, generated) === true) break;
      }
    } finally {
      try {
        if (iterator != null) await iterator.return();
        // The last yielded token was sampled but not evaluated yet (or, when nothing was generated,
        // the last input token): evaluate it so the cache holds everything the caller saw.
        const last = generated[generated.length - 1] ?? pendingFirst;
        if (last != null && !this.disposed) {
          await this.makeRoom(1);
          await this.sequence.evaluateWithoutGeneratingNewTokens([last], { contextShift: this.shiftOptions() });
          this.syncCells();
        }
      } finally {
        hot?.release();
        this.reopenedAbs = undefined;
        this.running = undefined;
      }
    }
  }

  // ---- resumable state (KV snapshots); nothing above depends on these two methods ----

  /** This sequence's mapping and accounting, to save next to its KV state. Call between evaluations. */
  exportState(): StreamingSequenceState {
    this.ensureOpen();
    return {
      cellStreamIndices: [...this.cellAbs],
      streamNext: this.streamNext,
      sinks: this.sinkCount,
      accounting: { ...this.acc },
      kvCellsPeak: this.kvCellsPeak,
    };
  }

  /**
   * Adopts `state` after the KV state saved with it was loaded into this (fresh) sequence
   * (`loadStateFromFile`): the cells keep the stream positions, sink count and accounting they had,
   * so the stream continues as if it had never stopped. Nothing is evaluated. Throws, changing
   * nothing, when `state` does not describe the loaded cells.
   */
  adoptRestoredState(state: StreamingSequenceState): void {
    this.ensureOpen();
    if (this.running != null) throw new StreamingSequenceBusyError(this.label, this.running);
    const cells = this.sequence.nextTokenIndex;
    const indices = state.cellStreamIndices;
    const problem =
      indices.length !== cells
        ? `it maps ${indices.length} cells but the sequence holds ${cells}`
        : !indices.every((abs, i) => Number.isInteger(abs) && abs >= 0 && (i === 0 || abs > indices[i - 1]!))
          ? "its cell positions are not increasing"
          : !Number.isInteger(state.streamNext) || (cells > 0 && state.streamNext <= indices[cells - 1]!) || state.streamNext < cells
            ? `its next stream position ${state.streamNext} is inconsistent`
            : !Object.values(state.accounting ?? {}).every((value) => typeof value === "number" && Number.isFinite(value) && value >= 0)
              ? "its accounting is not a set of non-negative numbers"
              : undefined;
    if (problem !== undefined) throw new Error(`StreamingSequence "${this.label}" cannot adopt the restored state: ${problem}.`);
    const bound = boundSinks(state.sinks, this.context.contextSize);
    this.cellAbs = [...indices];
    this.streamNext = state.streamNext;
    this.sinkCount = bound.sinks;
    this.sinkReason = bound.reason;
    const fresh = emptyAccounting();
    for (const key of Object.keys(fresh) as (keyof KvAccounting)[]) {
      this.acc[key] = typeof state.accounting[key] === "number" ? state.accounting[key] : fresh[key];
    }
    this.acc.tokensSeen = state.streamNext;
    this.kvCellsPeak = Math.max(cells, Number.isFinite(state.kvCellsPeak) ? state.kvCellsPeak : 0);
  }

  // ---- called by the installed contextShift strategy (safety net) ----

  /** @internal */
  librarySize(sequence: LlamaContextSequence): number {
    const plan = planEviction({
      contextSize: this.context.contextSize,
      sinks: this.sinkCount,
      cellsUsed: sequence.nextTokenIndex,
      incoming: 1,
      shiftSize: this.shiftSize,
      cost: this.cost(),
    });
    return plan.kind === "evict" ? plan.count : 1;
  }

  /** @internal Returns the one range to erase; throws rather than returning an empty list. */
  libraryShift(sequence: LlamaContextSequence): ContextTokensDeleteRange[] {
    const n = sequence.nextTokenIndex;
    const plan = planEviction({
      contextSize: this.context.contextSize,
      sinks: this.sinkCount,
      cellsUsed: n,
      incoming: 1,
      shiftSize: this.shiftSize,
      cost: this.cost(),
    });
    if (plan.kind !== "evict") {
      throw new Error(
        `StreamingSequence "${this.label}" cannot make room: ${plan.kind === "cannot-fit" ? plan.reason : "the cache is not full"}`,
      );
    }
    const mode = this.cost();
    const t0 = now();
    if (mode === "reevaluate") {
      // Inside the library's evaluation nothing can be re-evaluated (its lock is held) and a
      // middle erase could abort (M-RoPE): truncate the whole window after the sinks, no shift.
      const range = { start: plan.range.start, end: n };
      this.afterEviction(range, now() - t0, 0, "library");
      return [range];
    }
    if (plan.range.start === 0) {
      // zeroSinkInPlace: erase in place ourselves; the library then finds the room already free.
      eraseHeadInPlace(sequence, plan.count);
      this.afterEviction(plan.range, now() - t0, 0, "library");
      return [];
    }
    this.afterEviction(plan.range, 0, 0, "library");
    return [plan.range];
  }

  // ---- internals ----

  private cost(): EvictionCost {
    if (!this.capability.canShift) return "reevaluate";
    if (this.sinkCount === 0 && !this.zeroSinkInPlace) return "reevaluate";
    return "shift";
  }

  private modeReason(mode: KvMode): string | undefined {
    if (!this.capability.canShift) return this.capability.reason;
    if (mode === "reevaluate") {
      return "With 0 sink tokens the first cell cannot be removed in place, so the window is re-evaluated; use at least 1 sink token.";
    }
    return undefined;
  }

  private shiftOptions(): ContextShiftOptions {
    return streamingContextShift(() => this);
  }

  private ensureOpen(): void {
    if (this.disposed) throw new StreamingSequenceDisposedError(this.label);
  }

  private async exclusive<T>(name: string, run: () => Promise<T>): Promise<T> {
    this.ensureOpen();
    if (this.running != null) throw new StreamingSequenceBusyError(this.label, this.running);
    this.running = name;
    try {
      return await run();
    } finally {
      this.running = undefined;
    }
  }

  /** Records cells the library appended since the last look. */
  private syncCells(): void {
    const n = this.sequence.nextTokenIndex;
    if (n > this.kvCellsPeak) this.kvCellsPeak = n;
    if (this.cellAbs.length > n) {
      this.resyncAfterLibraryReevaluation();
      return;
    }
    while (this.cellAbs.length < n) {
      if (this.reopenedAbs != null) {
        this.cellAbs.push(this.reopenedAbs);
        this.reopenedAbs = undefined;
      } else {
        this.cellAbs.push(this.streamNext++);
        this.acc.tokensSeen += 1;
      }
    }
  }

  /** The library rebuilt the sequence on its own: keep the mapping consistent (best effort). */
  private resyncAfterLibraryReevaluation(): void {
    const n = this.sequence.nextTokenIndex;
    if (this.cellAbs.length > n) this.cellAbs.length = n;
  }

  private afterEviction(range: TokenRange, ms: number, reevaluated: number, trigger: ShiftEvent["trigger"]): void {
    const evicted = range.end - range.start;
    this.cellAbs.splice(range.start, evicted);
    recordEviction(this.acc, evicted, ms, reevaluated);
    this.onShift?.({ range, evicted, ms, mode: this.cost(), reevaluated, trigger });
  }

  /** Evicts one range now, in the current mode. */
  private async evict(range: TokenRange): Promise<void> {
    const count = range.end - range.start;
    const before = this.sequence.nextTokenIndex;
    if (this.cost() === "shift") {
      const t0 = now();
      if (range.start === 0) eraseHeadInPlace(this.sequence, count);
      else await this.sequence.eraseContextTokenRanges([range]);
      const ms = now() - t0;
      if (this.sequence.nextTokenIndex !== before - count) {
        throw new Error(
          `StreamingSequence "${this.label}": evicting [${range.start}, ${range.end}) left ${this.sequence.nextTokenIndex} cells, expected ${before - count}.`,
        );
      }
      this.afterEviction(range, ms, 0, "engine");
      return;
    }
    // reevaluate: truncate after the sinks (no position shift), evaluate the kept window again.
    const keep = this.sequence.contextTokens.slice(range.end);
    const meter = this.sequence.tokenMeter.usedInputTokens;
    const t0 = now();
    await this.sequence.eraseContextTokenRanges([{ start: range.start, end: before }]);
    if (keep.length > 0) {
      await this.sequence.evaluateWithoutGeneratingNewTokens(keep, { contextShift: this.shiftOptions() });
    }
    const ms = now() - t0;
    const reevaluated = this.sequence.tokenMeter.usedInputTokens - meter;
    this.afterEviction(range, ms, reevaluated, "engine");
  }

  /** Evicts if `incoming` tokens would not fit. */
  private async makeRoom(incoming: number): Promise<void> {
    const plan = planEviction({
      contextSize: this.context.contextSize,
      sinks: this.sinkCount,
      cellsUsed: this.sequence.nextTokenIndex,
      incoming,
      shiftSize: this.shiftSize,
      cost: this.cost(),
    });
    if (plan.kind === "cannot-fit") throw new Error(`StreamingSequence "${this.label}": ${plan.reason}`);
    if (plan.kind === "evict") await this.evict(plan.range);
  }

  private async ingestUnlocked(tokens: readonly Token[], options: IngestOptions): Promise<IngestResult> {
    this.ensureOpen();
    const total = tokens.length;
    const result: IngestResult = { evaluated: 0, evicted: 0 };
    if (options.score) result.logProbs = new Float64Array(Math.max(0, total - 1));
    const evictedBefore = this.acc.tokensEvicted;
    let i = 0;
    while (i < total) {
      if (options.signal?.aborted) throw abortError(options.signal);
      const step = planStep({
        contextSize: this.context.contextSize,
        sinks: this.sinkCount,
        cellsUsed: this.sequence.nextTokenIndex,
        remaining: total - i,
        batchSize: this.context.batchSize,
        shiftSize: this.shiftSize,
        cost: this.cost(),
      });
      if (step.kind === "done") break;
      if (step.kind === "cannot-fit") throw new Error(`StreamingSequence "${this.label}": ${step.reason}`);
      if (step.evict != null) await this.evict(step.evict);
      const chunk = tokens.slice(i, i + step.count);
      const last = i + chunk.length === total;
      const t0 = now();
      if (options.score || (options.nextDistribution && last)) {
        await this.evaluateScored(chunk, tokens, i, result, options.score === true, options.nextDistribution === true && last);
      } else {
        await this.sequence.evaluateWithoutGeneratingNewTokens(chunk as Token[], { contextShift: this.shiftOptions() });
      }
      this.acc.promptMs += now() - t0;
      this.acc.promptTokens += chunk.length;
      this.syncCells();
      i += chunk.length;
      result.evaluated = i;
    }
    result.evicted = this.acc.tokensEvicted - evictedBefore;
    return result;
  }

  private async evaluateScored(
    chunk: readonly Token[],
    all: readonly Token[],
    offset: number,
    result: IngestResult,
    score: boolean,
    nextDistribution: boolean,
  ): Promise<void> {
    const items: ControlledEvaluateInputItem[] = chunk.map((token, j) => {
      const g = offset + j;
      const isLast = j === chunk.length - 1;
      if (nextDistribution && isLast) return [token, { generateNext: { logits: true } }];
      if (score && g + 1 < all.length) {
        return [
          token,
          {
            generateNext: {
              // includeMax is inverted in 3.22.1: includeTop: 1 brings the top logit instead.
              logits: { filter: { tokens: [all[g + 1]!], includeTop: 1 } },
              totalLogitWeight: true,
            },
          },
        ];
      }
      return token;
    });
    const outputs = await this.sequence.controlledEvaluate(items, { contextShift: this.shiftOptions() });
    for (let j = 0; j < chunk.length; j++) {
      const next = outputs[j]?.next;
      if (next?.logits == null) continue;
      const g = offset + j;
      let top = -Infinity;
      for (const v of next.logits.values()) if (v > top) top = v;
      if (nextDistribution && j === chunk.length - 1) {
        let sum = 0;
        for (const v of next.logits.values()) sum += Math.exp(v - top);
        const lse = top + Math.log(sum);
        const dist = new Map<Token, number>();
        for (const [t, v] of next.logits) dist.set(t, v - lse);
        result.nextLogProbs = dist;
        if (score && g + 1 < all.length) result.logProbs![g] = dist.get(all[g + 1]!) ?? -Infinity;
        continue;
      }
      const target = next.logits.get(all[g + 1]!);
      const weight = next.totalLogitWeight;
      if (target == null || weight == null) continue;
      result.logProbs![g] = target - top - Math.log(weight);
    }
  }
}

/** The capacity a sequence of this context can hold (re-exported for callers' budgeting). */
export function capacityOf(context: Pick<LlamaContext, "contextSize">): number {
  return sequenceCapacity(context.contextSize);
}
