// One chat conversation as ONE StreamingLLM stream in the KV cache (server/kv/streamingSequence.ts).
//
// Stream layout:  [BOS + system prompt (+ pinned messages)] [turn][answer][turn][answer]...
//                  └──────────── sink region ────────────┘ └──── rolling window ────┘
// - Each user turn is formatted with the model's chat template (format.ts), tokenized once and
//   appended; each answer is the model's own sampled tokens. Nothing is ever re-tokenized or
//   evaluated twice: when the window is full the engine evicts the oldest window tokens and
//   shifts the rest in place, also in the middle of an answer.
// - Every message is a segment [start, end) of absolute stream indices; the engine's
//   cellStreamIndices() tells which of them the cache still holds, so the transcript can show
//   which messages the model no longer sees.
// - Pinning is lazy and costs no evaluation: a pinned message stays in the window until the
//   eviction front reaches it; instead of being evicted it then joins the sink region (the sink
//   count grows over it, together with the few older tokens before it that the same shift would
//   have evicted anyway). Pinned tokens count against a budget of a quarter of the window.
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token, TokenPredictor } from "node-llama-cpp";
import type { ChatHistoryMessage, ChatWindowState } from "../../common/protocol";
import type { SequenceStats } from "../../common/kvStats";
import { planEviction, sequenceCapacity } from "../kv/policy";
import type { ShiftCapability } from "../kv/shiftCapability";
import { StreamingSequence, type ShiftEvent, type StreamingSequenceState } from "../kv/streamingSequence";
import type { TurnFormatter } from "./format";

interface Segment {
  id: string;
  role: "user" | "assistant";
  /** Absolute stream indices [start, end). */
  start: number;
  end: number;
}

interface Pin {
  id: string;
  start: number;
  end: number;
  absorbed: boolean;
  /** Sink count right after this pin joined the sink region. */
  sinkEnd: number;
}

/**
 * Everything a ChatStream knows beyond the KV cache, saved with a KV snapshot (server/chat.ts) so a
 * stream whose KV state is loaded back maps the chat's messages onto the restored cells.
 */
export interface ChatStreamState {
  version: 1;
  chatId: string;
  templateSinks: number;
  segments: Segment[];
  pins: Pin[];
  notRestored: string[];
  hasTurns: boolean;
  answerTail: string;
  sequence: StreamingSequenceState;
}

/** `value` (read back from disk) as a ChatStreamState, or undefined when it is not one. */
export function parseChatStreamState(value: unknown): ChatStreamState | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const state = value as Partial<ChatStreamState>;
  const isCount = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0;
  const isRange = (r: { id?: unknown; start?: unknown; end?: unknown }) =>
    typeof r.id === "string" && isCount(r.start) && isCount(r.end) && r.end >= r.start;
  const sequence = state.sequence as Partial<StreamingSequenceState> | undefined;
  const ok =
    state.version === 1 &&
    typeof state.chatId === "string" &&
    isCount(state.templateSinks) &&
    Array.isArray(state.segments) &&
    state.segments.every((s) => typeof s === "object" && s !== null && isRange(s) && (s.role === "user" || s.role === "assistant")) &&
    Array.isArray(state.pins) &&
    state.pins.every((p) => typeof p === "object" && p !== null && isRange(p) && typeof p.absorbed === "boolean" && isCount(p.sinkEnd)) &&
    Array.isArray(state.notRestored) &&
    state.notRestored.every((id) => typeof id === "string") &&
    typeof state.hasTurns === "boolean" &&
    typeof state.answerTail === "string" &&
    typeof sequence === "object" &&
    sequence !== null &&
    Array.isArray(sequence.cellStreamIndices) &&
    sequence.cellStreamIndices.every(isCount) &&
    isCount(sequence.streamNext) &&
    isCount(sequence.sinks) &&
    typeof sequence.accounting === "object" &&
    sequence.accounting !== null &&
    isCount(sequence.kvCellsPeak);
  return ok ? (state as ChatStreamState) : undefined;
}

/** How a saved stream lines up with the chat history the client sent. */
export type ResumePlan =
  | { ok: true; append: ChatHistoryMessage[]; outside: string[] }
  | { ok: false; why: string };

/**
 * Checks a saved stream against the stored chat before anything is loaded: every message the saved
 * window still holds must be in `history`; messages after the newest one the stream knows are to be
 * appended (e.g. a turn interrupted by a crash after the snapshot); unknown older ones are outside.
 */
export function planResume(state: ChatStreamState, history: readonly ChatHistoryMessage[]): ResumePlan {
  const index = new Map(history.map((message, i) => [message.id, i]));
  const cells = state.sequence.cellStreamIndices;
  for (const segment of state.segments) {
    const length = segment.end - segment.start;
    if (length === 0 || countInRange(cells, segment.start, segment.end) === 0) continue;
    const at = index.get(segment.id);
    if (at === undefined || history[at]!.role !== segment.role) {
      return { ok: false, why: "the saved window holds messages the stored chat does not have" };
    }
  }
  const known = new Set([...state.segments.map((segment) => segment.id), ...state.notRestored]);
  let lastKnown = -1;
  history.forEach((message, i) => {
    if (known.has(message.id)) lastKnown = i;
  });
  if (lastKnown < 0 && state.segments.some((segment) => segment.end > segment.start) && history.length > 0) {
    return { ok: false, why: "none of the stored chat's messages are in it" };
  }
  const outside = history.slice(0, lastKnown + 1).filter((message) => !known.has(message.id)).map((message) => message.id);
  return { ok: true, append: history.slice(lastKnown + 1), outside };
}

export interface StreamOptions {
  chatId: string;
  /** streamsink.context.sinkTokens: the sink region is at least this long. */
  minSinks: number;
  /** streamsink.context.shiftSize (0 = automatic). */
  shiftSize: number;
  capability: ShiftCapability;
  /** streamsink.speculative: the token predictor for the new sequence (server/kv/speculativeSetup.ts). */
  tokenPredictor?: (sinks: number) => Promise<TokenPredictor | undefined>;
}

export interface AnswerOptions {
  maxTokens: number;
  temperature: number;
  seed?: number;
  signal: AbortSignal;
  /** New answer text (stop texts held back until they are known not to be one). */
  onText(delta: string): void;
  /** The window moved (an eviction happened) during the answer. */
  onWindowMove(): void;
}

export interface AnswerResult {
  text: string;
  stopReason: "end" | "maxTokens" | "cancelled";
  generatedTokens: number;
  promptTokens: number;
  promptMs: number;
  generationMs: number;
  kvCellsMax: number;
}

/** Number of sorted values in [from, to). */
function countInRange(sorted: readonly number[], from: number, to: number): number {
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

/** Longest suffix of `text` that is a proper prefix of one of `stops` (held back while streaming). */
function pendingStopLength(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

export class ChatStream {
  readonly chatId: string;
  /** Sink cells of the template preamble (BOS + system prompt), without pins. */
  readonly templateSinks: number;
  /** Things the user should know (a pin that could not be kept…), taken by the caller. */
  readonly notices: string[] = [];
  private readonly segments: Segment[] = [];
  private readonly segmentById = new Map<string, Segment>();
  private readonly pins = new Map<string, Pin>();
  /** Ids of stored messages that were not evaluated into this stream (restored chats). */
  private readonly notRestored = new Set<string>();
  private hasTurns = false;
  /** The stop text that ended the last answer (already in the cache). */
  private answerTail = "";
  private answering: string | undefined;
  /** Cells node-llama-cpp charged to the token meter as input for shifting them in place. */
  private shiftCharged = 0;

  private constructor(
    readonly sequence: StreamingSequence,
    private readonly formatter: TurnFormatter,
    private readonly model: LlamaModel,
    private readonly options: StreamOptions,
  ) {
    this.chatId = options.chatId;
    this.templateSinks = sequence.sinks;
  }

  static async create(
    context: LlamaContext,
    model: LlamaModel,
    formatter: TurnFormatter,
    options: StreamOptions,
  ): Promise<ChatStream> {
    const preamble = formatter.preamble();
    const holder: { stream?: ChatStream } = {};
    const sinks = Math.max(options.minSinks, preamble.length);
    const sequence = await StreamingSequence.create(context, {
      sinks,
      shiftSize: options.shiftSize,
      capability: options.capability,
      label: "chat",
      onShift: (event) => holder.stream?.recordShift(event),
      tokenPredictor: await options.tokenPredictor?.(sinks),
    });
    try {
      await sequence.ingest(preamble);
    } catch (error) {
      await sequence.dispose();
      throw error;
    }
    holder.stream = new ChatStream(sequence, formatter, model, options);
    return holder.stream;
  }

  get busy(): boolean {
    return this.answering !== undefined;
  }

  get contextSize(): number {
    return this.sequence.context.contextSize;
  }

  /** Most tokens pinned messages may use: a quarter of the window. */
  get pinBudget(): number {
    return Math.floor((sequenceCapacity(this.contextSize) - this.templateSinks) / 4);
  }

  stats(): SequenceStats {
    return this.sequence.stats();
  }

  async dispose(): Promise<void> {
    await this.sequence.dispose();
  }

  /**
   * Rebuilds this (new) stream from a stored chat: pinned messages first (straight into the sink
   * region, within the pin budget), then the newest messages that fit in half of the window.
   * Returns the tokens evaluated. Messages left out are reported as outside the window.
   */
  async restore(history: readonly ChatHistoryMessage[], signal: AbortSignal): Promise<number> {
    const window = sequenceCapacity(this.contextSize) - this.templateSinks;
    let evaluated = 0;
    const pinned = history.filter((message) => message.pinned === true);
    let pinnedUsed = 0;
    for (const message of pinned) {
      const tokens = this.tokensFor(message);
      if (tokens.length === 0 || pinnedUsed + tokens.length > this.pinBudget) {
        this.notRestored.add(message.id);
        continue;
      }
      const start = this.streamEnd();
      await this.sequence.ingest(tokens, { signal });
      evaluated += tokens.length;
      pinnedUsed += tokens.length;
      this.addSegment(message.id, message.role, start, start + tokens.length);
      this.markTurn(message.role);
      const sinks = this.sequence.cellStreamIndices().length;
      const bound = this.sequence.setSinkCount(sinks);
      this.pins.set(message.id, { id: message.id, start, end: start + tokens.length, absorbed: true, sinkEnd: bound.sinks });
    }
    // The newest unpinned messages that fit in half of the window, starting with a user message.
    const rest = history.filter((message) => message.pinned !== true);
    let budget = Math.floor(window / 2);
    let first = rest.length;
    for (let i = rest.length - 1; i >= 0; i--) {
      const cost = rest[i]!.role === "user" ? this.formatter.nextTurn(rest[i]!.text).length : this.formatter.answer(rest[i]!.text).length;
      if (cost > budget) break;
      budget -= cost;
      first = i;
    }
    while (first < rest.length && rest[first]!.role !== "user") first++;
    for (let i = 0; i < first; i++) this.notRestored.add(rest[i]!.id);
    for (const message of rest.slice(first)) {
      const tokens = this.tokensFor(message);
      const start = this.streamEnd();
      if (tokens.length > 0) await this.sequence.ingest(tokens, { signal });
      evaluated += tokens.length;
      this.addSegment(message.id, message.role, start, start + tokens.length);
      this.markTurn(message.role);
    }
    return evaluated;
  }

  // ---- resumable state (KV snapshots) ----

  /** This stream's state, to save with its KV state. Call between answers. */
  exportState(): ChatStreamState {
    if (this.answering !== undefined) throw new Error("An answer is still being generated in this chat.");
    return {
      version: 1,
      chatId: this.chatId,
      templateSinks: this.templateSinks,
      segments: this.segments.map((segment) => ({ ...segment })),
      pins: [...this.pins.values()].map((pin) => ({ ...pin })),
      notRestored: [...this.notRestored],
      hasTurns: this.hasTurns,
      answerTail: this.answerTail,
      sequence: this.sequence.exportState(),
    };
  }

  /**
   * A stream resumed from a KV snapshot: takes a fresh sequence from `context`, lets `load` put the
   * saved KV state into it (SnapshotStore.restore: nothing is evaluated) and adopts `state`.
   * Returns the note of `load` when it did not load; throws (sequence disposed) when `state` does not
   * describe what was loaded.
   */
  static async resume(
    context: LlamaContext,
    model: LlamaModel,
    formatter: TurnFormatter,
    options: StreamOptions,
    state: ChatStreamState,
    load: (sequence: LlamaContextSequence) => Promise<{ restored: true } | { restored: false; note: string }>,
  ): Promise<ChatStream | { note: string }> {
    const preamble = formatter.preamble();
    const holder: { stream?: ChatStream } = {};
    const sinks = Math.max(options.minSinks, preamble.length);
    const sequence = await StreamingSequence.create(context, {
      sinks,
      shiftSize: options.shiftSize,
      capability: options.capability,
      label: "chat",
      onShift: (event) => holder.stream?.recordShift(event),
      tokenPredictor: await options.tokenPredictor?.(sinks),
    });
    try {
      if (sequence.sinks !== state.templateSinks) {
        throw new Error(`its template sink region has ${state.templateSinks} tokens, this chat template's ${sequence.sinks}`);
      }
      const loaded = await load(sequence.sequence);
      if (!loaded.restored) {
        await sequence.dispose();
        return { note: loaded.note };
      }
      const cached = sequence.cachedTokens;
      if (preamble.some((token, i) => cached[i] !== token)) {
        throw new Error("its sink region does not start with this chat template's preamble");
      }
      const stream = new ChatStream(sequence, formatter, model, { ...options, chatId: state.chatId });
      holder.stream = stream;
      sequence.adoptRestoredState(state.sequence);
      for (const segment of state.segments) stream.addSegment(segment.id, segment.role, segment.start, segment.end);
      for (const pin of state.pins) stream.pins.set(pin.id, { ...pin });
      for (const id of state.notRestored) if (!stream.segmentById.has(id)) stream.notRestored.add(id);
      stream.hasTurns = state.hasTurns;
      stream.answerTail = state.answerTail;
      return stream;
    } catch (error) {
      await sequence.dispose();
      throw error;
    }
  }

  /**
   * After `resume`: applies what the stored chat has that the snapshot does not — older messages it
   * never saw are marked outside the window, newer ones (a turn interrupted after the snapshot) are
   * evaluated, pins are set as stored. Returns the tokens evaluated.
   */
  async catchUp(history: readonly ChatHistoryMessage[], plan: Extract<ResumePlan, { ok: true }>, signal: AbortSignal): Promise<number> {
    for (const id of plan.outside) this.notRestored.add(id);
    let evaluated = 0;
    for (const message of plan.append) {
      if (signal.aborted) throw signal.reason ?? new Error("Cancelled.");
      const tokens =
        message.role === "user"
          ? this.hasTurns
            ? this.formatter.nextTurn(message.text, this.answerTail)
            : this.formatter.firstTurn(message.text)
          : this.hasTurns
            ? this.formatter.answer(message.text)
            : [];
      const start = this.streamEnd();
      await this.ingestAbsorbingPins(tokens, signal);
      evaluated += tokens.length;
      this.addSegment(message.id, message.role, start, start + tokens.length);
      this.markTurn(message.role);
    }
    const pinned = new Set(history.filter((message) => message.pinned === true).map((message) => message.id));
    for (const id of [...this.pins.keys()]) if (!pinned.has(id)) this.pin(id, false);
    for (const id of pinned) {
      const result = this.pin(id, true);
      if (!result.ok && result.message) this.notices.push(result.message);
    }
    return evaluated;
  }

  /**
   * Tokens decoded on this stream's sequence so far: node-llama-cpp's token meter (input + output)
   * less the cells it also charges as input when it shifts them in place (no decode happens there).
   */
  decodedTokens(): number {
    const meter = this.sequence.sequence.tokenMeter;
    return meter.usedInputTokens + meter.usedOutputTokens - this.shiftCharged;
  }

  /** Appends a user turn and generates the answer. One at a time per stream. */
  async send(
    userMessageId: string,
    assistantMessageId: string,
    text: string,
    options: AnswerOptions,
  ): Promise<AnswerResult> {
    if (this.answering !== undefined) throw new Error("An answer is still being generated in this chat; stop it first.");
    this.answering = assistantMessageId;
    try {
      return await this.sendUnlocked(userMessageId, assistantMessageId, text, options);
    } finally {
      this.answering = undefined;
    }
  }

  /** Pins or unpins a message. */
  pin(messageId: string, pinned: boolean): { ok: boolean; message?: string } {
    const existing = this.pins.get(messageId);
    if (!pinned) {
      if (!existing) return { ok: true };
      this.pins.delete(messageId);
      if (existing.absorbed) {
        // Shrink the sink region back to the last pin that is still pinned; the released cells
        // become the front of the window (evicted next).
        let sinks = this.templateSinks;
        for (const pin of this.pins.values()) if (pin.absorbed) sinks = Math.max(sinks, pin.sinkEnd);
        this.sequence.setSinkCount(sinks);
      }
      return { ok: true };
    }
    if (existing) return { ok: true };
    const segment = this.segmentById.get(messageId);
    if (!segment || this.answering === messageId) {
      return { ok: false, message: "This message is not part of what the model has seen yet; pin it after it is sent and answered." };
    }
    const cells = this.sequence.cellStreamIndices();
    const length = segment.end - segment.start;
    if (length === 0 || countInRange(cells, segment.start, segment.end) < length) {
      return {
        ok: false,
        message: "This message has already left the model's window, so it cannot be pinned any more. Send it again to bring it back.",
      };
    }
    const used = this.pinnedTokens();
    if (used + length > this.pinBudget) {
      return {
        ok: false,
        message: `Pinning this message needs ${length} tokens, but only ${Math.max(0, this.pinBudget - used)} of the ${this.pinBudget}-token pin budget are free. Unpin another message first.`,
      };
    }
    this.pins.set(messageId, { id: messageId, start: segment.start, end: segment.end, absorbed: false, sinkEnd: 0 });
    return { ok: true };
  }

  windowState(): ChatWindowState {
    const stats = this.sequence.stats();
    const cells = this.sequence.cellStreamIndices();
    // A boundary, not a list of every evicted message: the oldest unpinned message still (partly)
    // held. Messages the server read before it are outside; a few newer ones may be too (outsideAfter).
    const partial: string[] = [];
    const held = new Map<Segment, number>();
    let first: Segment | undefined;
    for (const segment of this.segments) {
      const length = segment.end - segment.start;
      const count = length === 0 ? 0 : countInRange(cells, segment.start, segment.end);
      held.set(segment, count);
      if (count > 0 && count < length) partial.push(segment.id);
      if (count > 0 && !this.pins.has(segment.id) && (first === undefined || segment.start < first.start)) first = segment;
    }
    let outsideCount = 0;
    const outsideAfter: string[] = [];
    if (first !== undefined) {
      outsideCount = [...this.notRestored].filter((id) => !this.pins.has(id)).length;
      for (const segment of this.segments) {
        if (this.pins.has(segment.id) || held.get(segment)! > 0) continue;
        if (segment.start < first.start) outsideCount++;
        else if (segment.end > segment.start && outsideAfter.length < 64) outsideAfter.push(segment.id);
      }
      outsideCount += outsideAfter.length;
    }
    const pinnedInSink: string[] = [];
    const pinnedPending: string[] = [];
    for (const pin of this.pins.values()) (pin.absorbed ? pinnedInSink : pinnedPending).push(pin.id);
    return {
      chatId: this.chatId,
      ...(first !== undefined ? { firstInWindow: first.id } : {}),
      outsideAfter,
      outsideCount,
      partial,
      pinnedInSink,
      pinnedPending,
      pinnedTokens: this.pinnedTokens(),
      pinBudget: this.pinBudget,
      templateSinks: this.templateSinks,
      kvCells: stats.kvCells,
      contextSize: stats.contextSize,
      shifts: stats.shifts,
      tokensEvicted: stats.tokensEvicted,
    };
  }

  // ---- internals ----

  private streamEnd(): number {
    return this.sequence.stats().tokensSeen;
  }

  private pinnedTokens(): number {
    let pending = 0;
    for (const pin of this.pins.values()) if (!pin.absorbed) pending += pin.end - pin.start;
    return Math.max(0, this.sequence.sinks - this.templateSinks) + pending;
  }

  private addSegment(id: string, role: Segment["role"], start: number, end: number): void {
    const segment = { id, role, start, end };
    const previous = this.segmentById.get(id);
    if (previous) this.segments.splice(this.segments.indexOf(previous), 1);
    this.segments.push(segment);
    this.segmentById.set(id, segment);
    this.notRestored.delete(id);
  }

  private markTurn(role: Segment["role"]): void {
    if (role === "user") this.hasTurns = true;
    this.answerTail = "";
  }

  private tokensFor(message: ChatHistoryMessage): Token[] {
    if (message.role === "assistant") return this.hasTurns ? this.formatter.answer(message.text) : [];
    return this.hasTurns ? this.formatter.nextTurn(message.text) : this.formatter.firstTurn(message.text);
  }

  /** Ingests `tokens` in pieces that each cause at most one eviction, absorbing pins before it. */
  private async ingestAbsorbingPins(tokens: readonly Token[], signal: AbortSignal): Promise<void> {
    const capacity = sequenceCapacity(this.contextSize);
    let offset = 0;
    while (offset < tokens.length) {
      const stats = this.sequence.stats();
      const step = planEviction({
        contextSize: stats.contextSize,
        sinks: this.sequence.sinks,
        cellsUsed: capacity,
        incoming: 1,
        shiftSize: this.shiftSizeFor(),
        cost: this.sequence.mode,
      });
      const room = Math.max(0, capacity - stats.kvCells) + (step.kind === "evict" ? step.count : 1);
      const piece = tokens.slice(offset, offset + Math.max(1, room));
      this.absorbPins(piece.length);
      await this.sequence.ingest(piece, { signal });
      offset += piece.length;
    }
  }

  /** onShift of the sequence: counts what node-llama-cpp charges for an in-place shift. */
  private recordShift(event: ShiftEvent): void {
    if (event.mode !== "shift") return;
    const cells = this.sequence.sequence.nextTokenIndex;
    // The engine reports after erasing (cells past the range were moved down to range.start); the
    // library's strategy reports before node-llama-cpp erases and shifts the cells past range.end.
    this.shiftCharged += Math.max(0, event.trigger === "engine" ? cells - event.range.start : cells - event.range.end);
  }

  private shiftSizeFor(): number {
    return this.options.shiftSize;
  }

  /**
   * Before an evaluation of `incoming` tokens: if the eviction it triggers would reach a pinned
   * message, grow the sink region over that message instead (see the file comment).
   */
  private absorbPins(incoming: number): void {
    for (;;) {
      const pending = [...this.pins.values()].filter((pin) => !pin.absorbed).sort((a, b) => a.start - b.start);
      if (pending.length === 0) return;
      const stats = this.sequence.stats();
      const plan = planEviction({
        contextSize: stats.contextSize,
        sinks: this.sequence.sinks,
        cellsUsed: stats.kvCells,
        incoming,
        shiftSize: this.shiftSizeFor(),
        cost: this.sequence.mode,
      });
      if (plan.kind !== "evict") return;
      const cells = this.sequence.cellStreamIndices();
      const evicted = cells.slice(plan.range.start, plan.range.end);
      const pin = pending.find((candidate) => evicted.some((abs) => abs >= candidate.start && abs < candidate.end));
      if (!pin) return;
      let last = cells.length - 1;
      while (last >= 0 && cells[last]! >= pin.end) last--;
      const previous = this.sequence.sinks;
      const bound = this.sequence.setSinkCount(last + 1);
      if (bound.sinks < last + 1) {
        this.sequence.setSinkCount(previous);
        this.pins.delete(pin.id);
        this.notices.push("A pinned message no longer fits in the sink region and was unpinned; it will leave the window like any other.");
        continue;
      }
      pin.absorbed = true;
      pin.sinkEnd = bound.sinks;
    }
  }

  private async sendUnlocked(
    userMessageId: string,
    assistantMessageId: string,
    text: string,
    options: AnswerOptions,
  ): Promise<AnswerResult> {
    const { signal } = options;
    const turn = this.hasTurns ? this.formatter.nextTurn(text, this.answerTail) : this.formatter.firstTurn(text);
    this.answerTail = "";
    this.hasTurns = true;
    const userStart = this.streamEnd();
    this.addSegment(userMessageId, "user", userStart, userStart + turn.length);
    const promptStarted = performance.now();
    let kvCellsMax = this.sequence.stats().kvCells;
    // All but the last token: in pieces that each cause at most one eviction, so pins are
    // absorbed before the eviction front reaches them.
    const body = turn.slice(0, -1);
    const capacity = sequenceCapacity(this.contextSize);
    let offset = 0;
    while (offset < body.length) {
      if (signal.aborted) break;
      const stats = this.sequence.stats();
      const free = Math.max(0, capacity - stats.kvCells);
      const step = planEviction({
        contextSize: stats.contextSize,
        sinks: this.sequence.sinks,
        cellsUsed: capacity,
        incoming: 1,
        shiftSize: this.shiftSizeFor(),
        cost: this.sequence.mode,
      });
      const room = free + (step.kind === "evict" ? step.count : 1);
      const piece = body.slice(offset, offset + Math.max(1, room));
      this.absorbPins(piece.length);
      try {
        await this.sequence.ingest(piece, { signal });
      } catch (error) {
        if (!signal.aborted) throw error;
        break;
      }
      offset += piece.length;
      kvCellsMax = Math.max(kvCellsMax, this.sequence.stats().kvCells);
    }
    const promptMs = performance.now() - promptStarted;
    const generationStarted = performance.now();
    const generated: Token[] = [];
    let shown = "";
    let emitted = "";
    let stopReason: AnswerResult["stopReason"] = "end";
    let shifts = this.sequence.stats().shifts;
    const stopTexts = this.formatter.stop.texts;
    const stopTokens = this.formatter.stop.tokens;
    const assistantStart = userStart + turn.length;
    if (!signal.aborted) {
      this.absorbPins(1);
      const tokens = this.sequence.generate({
        input: turn.slice(-1),
        maxTokens: options.maxTokens,
        temperature: options.temperature,
        seed: options.seed,
        signal,
        stopOnTokens: [...stopTokens],
      });
      for await (const token of tokens) {
        // Leaving the loop evaluates the last token (which may evict): absorb pins first.
        if (stopTokens.has(token)) {
          this.absorbPins(1);
          break;
        }
        generated.push(token);
        const full = this.model.detokenize(this.formatter.shownTokens(generated), false);
        const stopAt = stopTexts.reduce((best, stop) => {
          const index = full.indexOf(stop);
          return index >= 0 && (best < 0 || index < best) ? index : best;
        }, -1);
        if (stopAt >= 0) {
          shown = full.slice(0, stopAt);
          this.answerTail = full.slice(stopAt);
          this.absorbPins(1);
          break;
        }
        // Hold back an incomplete UTF-8 character and a possible beginning of a stop text.
        let safe = full.replace(/\uFFFD+$/, "");
        safe = safe.slice(0, safe.length - pendingStopLength(safe, stopTexts));
        shown = full;
        if (safe.length > emitted.length && safe.startsWith(emitted)) {
          options.onText(safe.slice(emitted.length));
          emitted = safe;
        }
        const stats = this.sequence.stats();
        kvCellsMax = Math.max(kvCellsMax, stats.kvCells);
        if (stats.shifts !== shifts) {
          shifts = stats.shifts;
          options.onWindowMove();
        }
        this.absorbPins(1);
      }
    }
    if (signal.aborted) stopReason = "cancelled";
    else if (generated.length >= options.maxTokens) stopReason = "maxTokens";
    if (this.answerTail === "") shown = this.model.detokenize(this.formatter.shownTokens(generated), false);
    if (shown.length > emitted.length && shown.startsWith(emitted)) options.onText(shown.slice(emitted.length));
    const end = this.streamEnd();
    if (end < assistantStart) {
      // Cancelled while the turn was being read: the user segment ends where the stream does.
      this.addSegment(userMessageId, "user", userStart, end);
    }
    this.addSegment(assistantMessageId, "assistant", Math.min(assistantStart, end), end);
    kvCellsMax = Math.max(kvCellsMax, this.sequence.stats().kvCells);
    return {
      text: shown,
      stopReason,
      generatedTokens: generated.length,
      promptTokens: turn.length,
      promptMs,
      generationMs: performance.now() - generationStarted,
      kvCellsMax,
    };
  }
}
