// Pinned segments and the sink region: KV policy for a stream whose owner (the chat) pins some of
// its segments. Pinning is lazy and costs no evaluation: a pinned segment stays in the window until
// the eviction front reaches it; instead of being evicted it then joins the sink region (the sink
// count grows over it, together with the few older tokens before it that the same shift would have
// evicted anyway). Pinned tokens count against a budget of a quarter of the window.
//
// No node-llama-cpp, LSP or vscode here: the functions are pure and PinnedSinks works on the small
// SinkSequence view of a StreamingSequence.
import { planEviction, sequenceCapacity, type EvictionCost, type TokenRange } from "./policy";

export interface Pin {
  id: string;
  /** Absolute stream indices [start, end). */
  start: number;
  end: number;
  absorbed: boolean;
  /** Sink count right after this pin joined the sink region. */
  sinkEnd: number;
}

/** What pins need of a StreamingSequence. */
export interface SinkSequence {
  readonly sinks: number;
  readonly mode: EvictionCost;
  stats(): { contextSize: number; kvCells: number };
  cellStreamIndices(): number[];
  setSinkCount(requested: number): { sinks: number };
}

/** Number of sorted values in [from, to). */
export function countInRange(sorted: readonly number[], from: number, to: number): number {
  const lowerBound = (value: number) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return lowerBound(to) - lowerBound(from);
}

/** Most tokens pinned segments may use: a quarter of the window. */
export function pinBudget(contextSize: number, templateSinks: number): number {
  return Math.floor((sequenceCapacity(contextSize) - templateSinks) / 4);
}

/** The sink count that keeps exactly the absorbed pins: the template's, or up to the last absorbed pin. */
export function sinksForAbsorbed(templateSinks: number, pins: Iterable<Pin>): number {
  let sinks = templateSinks;
  for (const pin of pins) if (pin.absorbed) sinks = Math.max(sinks, pin.sinkEnd);
  return sinks;
}

/**
 * The first pending pin (by stream position) that evicting `range` of `cells` would reach, and the
 * sink count that keeps every cell up to that pin's end instead; undefined when no pin is reached.
 */
export function pinReachedBy(pending: readonly Pin[], cells: readonly number[], range: TokenRange): { pin: Pin; sinks: number } | undefined {
  const evicted = cells.slice(range.start, range.end);
  const pin = [...pending]
    .sort((a, b) => a.start - b.start)
    .find((candidate) => evicted.some((abs) => abs >= candidate.start && abs < candidate.end));
  if (!pin) return undefined;
  let last = cells.length - 1;
  while (last >= 0 && cells[last]! >= pin.end) last--;
  return { pin, sinks: last + 1 };
}

/** The pins of one stream and the sink region they grow. */
export class PinnedSinks {
  readonly pins = new Map<string, Pin>();

  constructor(
    private readonly sequence: SinkSequence,
    /** Sink cells of the stream's template preamble, without pins. */
    private readonly templateSinks: number,
    /** Cells evicted per shift (0 = automatic), as configured for the sequence. */
    private readonly shiftSize: number,
    /** Receives what the user should know (a pin that could not be kept). */
    private readonly notify: (notice: string) => void,
  ) {}

  get budget(): number {
    return pinBudget(this.sequence.stats().contextSize, this.templateSinks);
  }

  /** Tokens pinned: the sink region beyond the template plus the pins still pending. */
  pinnedTokens(): number {
    let pending = 0;
    for (const pin of this.pins.values()) if (!pin.absorbed) pending += pin.end - pin.start;
    return Math.max(0, this.sequence.sinks - this.templateSinks) + pending;
  }

  /** Pins [start, end) lazily: it joins the sink region when the eviction front reaches it. */
  addPending(id: string, start: number, end: number): void {
    this.pins.set(id, { id, start, end, absorbed: false, sinkEnd: 0 });
  }

  /** Pins [start, end), which ends the cache now: the sink region grows over everything cached. */
  addAbsorbedNow(id: string, start: number, end: number): void {
    const bound = this.sequence.setSinkCount(this.sequence.cellStreamIndices().length);
    this.pins.set(id, { id, start, end, absorbed: true, sinkEnd: bound.sinks });
  }

  /**
   * Pins [start, end) lazily when all of it is still cached and it fits in the pin budget; says why
   * not otherwise (in the chat's words: a segment is a message).
   */
  tryPin(id: string, start: number, end: number): { ok: boolean; message?: string } {
    const cells = this.sequence.cellStreamIndices();
    const length = end - start;
    if (length === 0 || countInRange(cells, start, end) < length) {
      return {
        ok: false,
        message: "This message has already left the model's window, so it cannot be pinned any more. Send it again to bring it back.",
      };
    }
    const used = this.pinnedTokens();
    const budget = this.budget;
    if (used + length > budget) {
      return {
        ok: false,
        message: `Pinning this message needs ${length} tokens, but only ${Math.max(0, budget - used)} of the ${budget}-token pin budget are free. Unpin another message first.`,
      };
    }
    this.addPending(id, start, end);
    return { ok: true };
  }

  /** Unpins; the sink region shrinks back to the last pin still pinned (released cells are evicted next). */
  remove(id: string): void {
    const existing = this.pins.get(id);
    if (!existing) return;
    this.pins.delete(id);
    if (existing.absorbed) this.sequence.setSinkCount(sinksForAbsorbed(this.templateSinks, this.pins.values()));
  }

  /**
   * The longest next piece to ingest that causes at most one eviction (the free cells plus one
   * shift), so pins can be absorbed before each eviction.
   */
  nextPieceLength(): number {
    const stats = this.sequence.stats();
    const capacity = sequenceCapacity(stats.contextSize);
    const step = planEviction({
      contextSize: stats.contextSize,
      sinks: this.sequence.sinks,
      cellsUsed: capacity,
      incoming: 1,
      shiftSize: this.shiftSize,
      cost: this.sequence.mode,
    });
    const room = Math.max(0, capacity - stats.kvCells) + (step.kind === "evict" ? step.count : 1);
    return Math.max(1, room);
  }

  /**
   * Before an evaluation of `incoming` tokens: if the eviction it triggers would reach a pinned
   * segment, grow the sink region over that segment instead.
   */
  absorb(incoming: number): void {
    for (;;) {
      const pending = [...this.pins.values()].filter((pin) => !pin.absorbed);
      if (pending.length === 0) return;
      const stats = this.sequence.stats();
      const plan = planEviction({
        contextSize: stats.contextSize,
        sinks: this.sequence.sinks,
        cellsUsed: stats.kvCells,
        incoming,
        shiftSize: this.shiftSize,
        cost: this.sequence.mode,
      });
      if (plan.kind !== "evict") return;
      const reached = pinReachedBy(pending, this.sequence.cellStreamIndices(), plan.range);
      if (!reached) return;
      const previous = this.sequence.sinks;
      const bound = this.sequence.setSinkCount(reached.sinks);
      if (bound.sinks < reached.sinks) {
        this.sequence.setSinkCount(previous);
        this.pins.delete(reached.pin.id);
        this.notify("A pinned message no longer fits in the sink region and was unpinned; it will leave the window like any other.");
        continue;
      }
      reached.pin.absorbed = true;
      reached.pin.sinkEnd = bound.sinks;
    }
  }
}
