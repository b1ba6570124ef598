// The StreamingLLM cache policy, as pure functions (no node-llama-cpp, no LSP, no vscode).
//
// A sequence's cache holds at most `contextSize - 1` cells (node-llama-cpp keeps one free).
// The first `sinks` cells are attention sinks and are never evicted; the cells after them are a
// rolling window. When the next evaluation would not fit, the oldest window cells are evicted in
// ONE range `[sinks, sinks + k)`; the cells after it are shifted down in place.

export interface TokenRange {
  /** First cell index (inclusive). */
  start: number;
  /** End cell index (exclusive). */
  end: number;
}

/** How a sequence makes room: shift in place, or truncate and re-evaluate the kept window. */
export type EvictionCost = "shift" | "reevaluate";

/** Cells one sequence can hold in a context of `contextSize` (node-llama-cpp keeps one free). */
export function sequenceCapacity(contextSize: number): number {
  if (!Number.isFinite(contextSize)) return 0;
  return Math.max(0, Math.floor(contextSize) - 1);
}

/** The largest sink count that still leaves a window: half the context, and at least one window cell. */
export function maxSinks(contextSize: number): number {
  const capacity = sequenceCapacity(contextSize);
  return Math.max(0, Math.min(Math.floor(contextSize / 2), capacity - 1));
}

export interface SinkBound {
  /** The sink count to use. */
  sinks: number;
  /** Why it differs from the request; absent when the request was used as is. */
  reason?: string;
}

/** Bounds a requested sink count (m ≥ context, negative, fractional) to what the context allows. */
export function boundSinks(requested: number, contextSize: number): SinkBound {
  const limit = maxSinks(contextSize);
  if (!Number.isFinite(requested) || requested < 0) {
    return { sinks: 0, reason: `sink count ${requested} is not a non-negative number; using 0.` };
  }
  const whole = Math.floor(requested);
  if (whole > limit) {
    return {
      sinks: limit,
      reason: `${whole} sink tokens leave no room for a window in a ${contextSize}-token context; using ${limit}.`,
    };
  }
  if (whole !== requested) return { sinks: whole, reason: `sink count ${requested} is not whole; using ${whole}.` };
  return { sinks: whole };
}

/**
 * The configured sink count and shift size fitted to a known context size (the settings' one bound
 * against the size; their static ranges are in common/settings/table.ts): sinks per boundSinks, a
 * shift at most the window. Every value it lowers is listed with the setting's name.
 */
export function fitContextSettings(context: { size: number; sinkTokens: number; shiftSize: number }): {
  context: { size: number; sinkTokens: number; shiftSize: number };
  problems: { key: string; message: string }[];
} {
  const { size } = context;
  const problems: { key: string; message: string }[] = [];
  const sinkTokens = boundSinks(context.sinkTokens, size).sinks;
  if (sinkTokens !== context.sinkTokens) {
    const message = `streamsink.context.sinkTokens = ${context.sinkTokens} leaves no room for a window in a ${size}-token context; using ${sinkTokens}.`;
    problems.push({ key: "context.sinkTokens", message });
  }
  const maxShift = sequenceCapacity(size) - sinkTokens;
  const shiftSize = Math.min(context.shiftSize, maxShift);
  if (shiftSize !== context.shiftSize) {
    const message = `streamsink.context.shiftSize = ${context.shiftSize} is larger than the window (${maxShift}); using ${maxShift}.`;
    problems.push({ key: "context.shiftSize", message });
  }
  return { context: { size, sinkTokens, shiftSize }, problems };
}

/**
 * The automatic shift size: enough to make room plus a margin. In "shift" mode a shift is cheap
 * (no re-evaluation), so the margin is small (1/16 of the window): the visible window stays within
 * ~6% of its maximum. In "reevaluate" mode every eviction re-evaluates what is kept, so half the
 * window goes at once to amortize it.
 */
export function autoShiftSize(contextSize: number, sinks: number, cost: EvictionCost = "shift"): number {
  const window = Math.max(0, sequenceCapacity(contextSize) - sinks);
  if (window === 0) return 0;
  const share = cost === "shift" ? Math.ceil(window / 16) : Math.ceil(window / 2);
  return Math.max(1, Math.min(window, share));
}

export interface EvictionInput {
  /** `context.contextSize`. */
  contextSize: number;
  /** Effective sink count (see boundSinks). */
  sinks: number;
  /** Cells in use by the sequence now. */
  cellsUsed: number;
  /** Tokens the next evaluation appends at once. */
  incoming: number;
  /** Cells to evict per shift; 0 or absent = automatic. */
  shiftSize?: number;
  cost?: EvictionCost;
}

export type EvictionPlan =
  | { kind: "fits" }
  | { kind: "evict"; range: TokenRange; count: number }
  | { kind: "cannot-fit"; reason: string };

/**
 * What to evict so that `incoming` more tokens fit. Evicts at least what is missing, at least the
 * shift size, and never more than the window (never a sink). "cannot-fit" when even evicting the
 * whole window is not enough: the caller must evaluate in smaller chunks (see planStep).
 */
export function planEviction(input: EvictionInput): EvictionPlan {
  const { contextSize, cellsUsed } = input;
  const incoming = Math.max(0, Math.floor(input.incoming));
  const capacity = sequenceCapacity(contextSize);
  const sinks = Math.min(Math.max(0, Math.floor(input.sinks)), cellsUsed);
  if (incoming === 0) return { kind: "fits" };
  const free = capacity - cellsUsed;
  if (incoming <= free) return { kind: "fits" };
  const missing = incoming - free;
  const evictable = Math.max(0, cellsUsed - sinks);
  if (missing > evictable) {
    return {
      kind: "cannot-fit",
      reason:
        evictable === 0
          ? `the ${sinks} sink tokens fill the ${contextSize}-token context: no window is left to evict.`
          : `${incoming} tokens do not fit in a ${capacity - sinks}-token window: evaluate them in chunks.`,
    };
  }
  const configured = input.shiftSize && input.shiftSize > 0 ? Math.floor(input.shiftSize) : 0;
  const step = configured > 0 ? configured : autoShiftSize(contextSize, sinks, input.cost ?? "shift");
  const count = Math.min(evictable, Math.max(missing, step));
  return { kind: "evict", range: { start: sinks, end: sinks + count }, count };
}

export interface StepInput {
  contextSize: number;
  sinks: number;
  cellsUsed: number;
  /** Tokens still to append. */
  remaining: number;
  /** Largest decode batch (`context.batchSize`). */
  batchSize: number;
  shiftSize?: number;
  cost?: EvictionCost;
}

export type StepPlan =
  | { kind: "done" }
  | { kind: "evaluate"; evict?: TokenRange; count: number }
  | { kind: "cannot-fit"; reason: string };

/**
 * The next step of appending `remaining` tokens: fill free cells first (up to a batch); when the
 * cache is full, evict one shift and evaluate at most what was freed. The window therefore stays as
 * large as possible and a chunk never evicts tokens it would need itself.
 */
export function planStep(input: StepInput): StepPlan {
  const remaining = Math.max(0, Math.floor(input.remaining));
  if (remaining === 0) return { kind: "done" };
  const batch = Math.max(1, Math.floor(input.batchSize));
  const capacity = sequenceCapacity(input.contextSize);
  const free = capacity - input.cellsUsed;
  if (free > 0) return { kind: "evaluate", count: Math.min(remaining, free, batch) };
  const plan = planEviction({
    contextSize: input.contextSize,
    sinks: input.sinks,
    cellsUsed: input.cellsUsed,
    incoming: 1,
    shiftSize: input.shiftSize,
    cost: input.cost,
  });
  if (plan.kind === "cannot-fit") return plan;
  if (plan.kind === "fits") return { kind: "evaluate", count: Math.min(remaining, batch, 1) };
  return { kind: "evaluate", evict: plan.range, count: Math.min(remaining, batch, plan.count) };
}

/** Length of the common prefix of two token lists. */
export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** The cells that stay after evicting `range` from `cells` (the rolling-window view). */
export function applyEviction<T>(cells: readonly T[], range: TokenRange): T[] {
  return [...cells.slice(0, range.start), ...cells.slice(range.end)];
}

/** Running totals of a sequence; the adapter keeps one and reports it through stats(). */
export interface KvAccounting {
  tokensSeen: number;
  tokensEvicted: number;
  shifts: number;
  shiftMs: number;
  lastShiftMs: number;
  reevaluatedTokens: number;
  promptTokens: number;
  promptMs: number;
  generatedTokens: number;
  generationMs: number;
}

export function emptyAccounting(): KvAccounting {
  return {
    tokensSeen: 0,
    tokensEvicted: 0,
    shifts: 0,
    shiftMs: 0,
    lastShiftMs: 0,
    reevaluatedTokens: 0,
    promptTokens: 0,
    promptMs: 0,
    generatedTokens: 0,
    generationMs: 0,
  };
}

export function recordEviction(acc: KvAccounting, evicted: number, ms: number, reevaluated = 0): void {
  acc.tokensEvicted += evicted;
  acc.shifts += 1;
  acc.shiftMs += ms;
  acc.lastShiftMs = ms;
  acc.reevaluatedTokens += reevaluated;
}

/** tokens / seconds, 0 when nothing was measured. */
export function tokensPerSecond(tokens: number, ms: number): number {
  return tokens > 0 && ms > 0 ? (tokens * 1000) / ms : 0;
}
