// The eviction mechanics under a StreamingSequence (streamingSequence.ts): the cell → stream-position
// map, the accounting, making room after the sinks (shift in place, or truncate and re-evaluate),
// the chunked ingest loop and the contextShift strategy installed as a safety net.
//
// Invariant: the first `sinks` cells are never evicted. Before every evaluation that would not fit,
// the engine evicts `[sinks, sinks + k)` itself (policy.ts decides k), so evictions are counted and
// timed exactly. The installed strategy always returns the same one range, never an empty list
// (an empty list makes the library erase `[0, size)`: the sinks).
import type { ContextShiftOptions, ContextTokensDeleteRange, LlamaContext, LlamaContextSequence, Token } from "node-llama-cpp";
import type { KvMode } from "../../common/kvStats";
import { eraseHeadInPlace, internalsSupport } from "./llamaInternals";
import { boundSinks, emptyAccounting, planEviction, planStep, recordEviction, type EvictionCost, type KvAccounting, type TokenRange } from "./policy";
import {
  StreamingSequenceBusyError,
  StreamingSequenceDisposedError,
  type IngestOptions,
  type IngestResult,
  type ShiftEvent,
  type StreamingSequenceOptions,
} from "./sequenceTypes";
import type { ShiftCapability } from "./shiftCapability";

/**
 * The contextShift options that keep the StreamingLLM invariant for a sequence whose engine is
 * resolved lazily (the sequence must exist before the engine). Pass to `context.getSequence`.
 */
export function streamingContextShift(getEngine: () => SequenceCore | undefined): ContextShiftOptions {
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

export function now(): number {
  return performance.now();
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted.", "AbortError");
}

export class SequenceCore {
  readonly label: string;
  readonly context: LlamaContext;
  readonly sequence: LlamaContextSequence;
  readonly capability: ShiftCapability;

  protected sinkCount: number;
  protected sinkReason: string | undefined;
  protected readonly shiftSize: number;
  private readonly zeroSinkInPlace: boolean;
  private readonly zeroSinkRefused: boolean;
  private readonly onShift: ((event: ShiftEvent) => void) | undefined;
  protected readonly acc: KvAccounting = emptyAccounting();
  /** Absolute stream index of every cell, parallel to sequence.contextTokens. */
  protected cellAbs: number[] = [];
  /** Absolute stream index the next new token gets. */
  protected streamNext = 0;
  /** Set while one re-opened cell is re-evaluated (generate without input). */
  protected reopenedAbs: number | undefined;
  protected running: string | undefined;
  protected kvCellsPeak = 0;
  protected isDisposed = false;

  protected constructor(context: LlamaContext, sequence: LlamaContextSequence, options: StreamingSequenceOptions) {
    this.context = context;
    this.sequence = sequence;
    this.label = options.label;
    this.capability = options.capability;
    this.shiftSize = options.shiftSize && options.shiftSize > 0 ? Math.floor(options.shiftSize) : 0;
    // zeroSinkInPlace only on the node-llama-cpp version its internals were written for.
    this.zeroSinkInPlace = options.zeroSinkInPlace === true && internalsSupport.supported;
    this.zeroSinkRefused = options.zeroSinkInPlace === true && !internalsSupport.supported;
    this.onShift = options.onShift;
    const bound = boundSinks(options.sinks, context.contextSize);
    this.sinkCount = bound.sinks;
    this.sinkReason = bound.reason;
    this.cellAbs = sequence.contextTokens.map((_, i) => i);
    this.streamNext = this.cellAbs.length;
  }

  get disposed(): boolean {
    return this.isDisposed || this.sequence.disposed;
  }

  // ---- called by the installed contextShift strategy (safety net) ----

  /** @internal */
  librarySize(sequence: LlamaContextSequence): number {
    const plan = planEviction(this.evictionInput(sequence.nextTokenIndex, 1));
    return plan.kind === "evict" ? plan.count : 1;
  }

  /** @internal Returns the one range to erase; throws rather than returning an empty list. */
  libraryShift(sequence: LlamaContextSequence): ContextTokensDeleteRange[] {
    const n = sequence.nextTokenIndex;
    const plan = planEviction(this.evictionInput(n, 1));
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

  // ---- for the subclass ----

  protected cost(): EvictionCost {
    if (!this.capability.canShift) return "reevaluate";
    if (this.sinkCount === 0 && !this.zeroSinkInPlace) return "reevaluate";
    return "shift";
  }

  protected modeReason(mode: KvMode): string | undefined {
    if (!this.capability.canShift) return this.capability.reason;
    if (mode === "reevaluate") {
      if (this.zeroSinkRefused) return internalsSupport.reason;
      return "With 0 sink tokens the first cell cannot be removed in place, so the window is re-evaluated; use at least 1 sink token.";
    }
    return undefined;
  }

  protected shiftOptions(): ContextShiftOptions {
    return streamingContextShift(() => this);
  }

  protected ensureOpen(): void {
    if (this.disposed) throw new StreamingSequenceDisposedError(this.label);
  }

  protected async exclusive<T>(name: string, run: () => Promise<T>): Promise<T> {
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
  protected syncCells(): void {
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
  protected resyncAfterLibraryReevaluation(): void {
    const n = this.sequence.nextTokenIndex;
    if (this.cellAbs.length > n) this.cellAbs.length = n;
  }

  /** Evicts if `incoming` tokens would not fit. */
  protected async makeRoom(incoming: number): Promise<void> {
    const plan = planEviction(this.evictionInput(this.sequence.nextTokenIndex, incoming));
    if (plan.kind === "cannot-fit") throw new Error(`StreamingSequence "${this.label}": ${plan.reason}`);
    if (plan.kind === "evict") await this.evict(plan.range);
  }

  protected async ingestUnlocked(tokens: readonly Token[], options: IngestOptions): Promise<IngestResult> {
    this.ensureOpen();
    const total = tokens.length;
    const result: IngestResult = { evaluated: 0, evicted: 0 };
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
      const t0 = now();
      if (options.evaluateChunk) await options.evaluateChunk(chunk, i);
      else await this.sequence.evaluateWithoutGeneratingNewTokens(chunk as Token[], { contextShift: this.shiftOptions() });
      this.acc.promptMs += now() - t0;
      this.acc.promptTokens += chunk.length;
      this.syncCells();
      i += chunk.length;
      result.evaluated = i;
    }
    result.evicted = this.acc.tokensEvicted - evictedBefore;
    return result;
  }

  // ---- internals ----

  private evictionInput(cellsUsed: number, incoming: number) {
    return { contextSize: this.context.contextSize, sinks: this.sinkCount, cellsUsed, incoming, shiftSize: this.shiftSize, cost: this.cost() };
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
}
