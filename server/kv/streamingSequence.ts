// StreamingLLM on one node-llama-cpp LlamaContextSequence: attention sinks + a rolling window,
// evicted in ONE range after the sinks and shifted in place (llama.cpp K-shift), never re-evaluated.
// The eviction mechanics live in sequenceCore.ts, the policy (pure) in policy.ts, the one path that
// uses node-llama-cpp internals in llamaInternals.ts; log-prob scoring for benches: bench/scoring.ts.
//
// Models that cannot shift in place (shiftCapability.ts) run in "reevaluate" mode: the window is
// truncated after the sinks and the kept tokens are evaluated again. Same visible tokens, more cost,
// never an abort.
//
// Only node-llama-cpp TYPES are imported here; the caller owns getLlama/model/context.

import { holdEventLoopHot } from "./hotEventLoop";
import type { LlamaContext, LlamaContextSequence, Token } from "node-llama-cpp";
import type { KvMode, SequenceStats } from "../../common/kvStats";
import { boundSinks, sequenceCapacity, tokensPerSecond } from "./policy";
import { now, SequenceCore, streamingContextShift } from "./sequenceCore";
import { restoredAccounting, restoredStateProblem, type StreamingSequenceState } from "./sequenceState";
import {
  StreamingSequenceBusyError,
  type GenerateOptions,
  type IngestOptions,
  type IngestResult,
  type StreamingSequenceOptions,
  type SyncResult,
} from "./sequenceTypes";
import { predictionStats, primePredictor } from "./speculation";

export type { SequenceStats } from "../../common/kvStats";
export { streamingContextShift } from "./sequenceCore";
export type { StreamingSequenceState } from "./sequenceState";
export {
  StreamingSequenceBusyError,
  StreamingSequenceDisposedError,
  type ChunkEvaluator,
  type GenerateOptions,
  type IngestOptions,
  type IngestResult,
  type ShiftEvent,
  type StreamingSequenceOptions,
  type SyncResult,
} from "./sequenceTypes";

export class StreamingSequence extends SequenceCore {
  private readonly hotEventLoop: boolean;

  private constructor(context: LlamaContext, sequence: LlamaContextSequence, options: StreamingSequenceOptions) {
    super(context, sequence, options);
    this.hotEventLoop = options.hotEventLoop ?? (context.model.llama.gpu !== false && context.model.gpuLayers > 0);
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
    const problem = restoredStateProblem(state, cells);
    if (problem !== undefined) throw new Error(`StreamingSequence "${this.label}" cannot adopt the restored state: ${problem}.`);
    const bound = boundSinks(state.sinks, this.context.contextSize);
    this.cellAbs = [...state.cellStreamIndices];
    this.streamNext = state.streamNext;
    this.sinkCount = bound.sinks;
    this.sinkReason = bound.reason;
    Object.assign(this.acc, restoredAccounting(state));
    this.kvCellsPeak = Math.max(cells, Number.isFinite(state.kvCellsPeak) ? state.kvCellsPeak : 0);
  }
}

/** The capacity a sequence of this context can hold (re-exported for callers' budgeting). */
export function capacityOf(context: Pick<LlamaContext, "contextSize">): number {
  return sequenceCapacity(context.contextSize);
}
