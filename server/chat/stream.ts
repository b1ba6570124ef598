// One chat conversation as ONE StreamingLLM stream in the KV cache (server/kv/streamingSequence.ts).
//
// Stream layout:  [BOS + system prompt (+ pinned messages)] [turn][answer][turn][answer]...
//                  └──────────── sink region ────────────┘ └──── rolling window ────┘
// - Each user turn is formatted with the model's chat template (format.ts), tokenized once and
//   appended; each answer is the model's own sampled tokens (answer.ts). Nothing is ever
//   re-tokenized or evaluated twice: when the window is full the engine evicts the oldest window
//   tokens and shifts the rest in place, also in the middle of an answer.
// - Every message is a segment [start, end) of absolute stream indices; the engine's
//   cellStreamIndices() tells which of them the cache still holds, so the transcript can show
//   which messages the model no longer sees.
// - Pinning is lazy and costs no evaluation: a pinned message joins the sink region when the
//   eviction front reaches it (KV policy: server/kv/pins.ts).
// - Sequence set-up: setup.ts; saved state: state.ts; how it lines up with the stored chat: resume.ts.
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import type { ChatHistoryMessage, ChatWindowState } from "../../common/protocol";
import type { SequenceStats } from "../../common/kvStats";
import { sequenceCapacity } from "../kv/policy";
import { PinnedSinks } from "../kv/pins";
import type { ShiftEvent, StreamingSequence } from "../kv/streamingSequence";
import { runAnswerLoop, type AnswerOptions, type AnswerResult } from "./answer";
import type { TurnFormatter } from "./format";
import { newestThatFit, type ResumePlan } from "./resume";
import { openChatSequence, type StreamOptions } from "./setup";
import type { ChatStreamState, Segment } from "./state";
import { Transcript } from "./transcript";

export type { AnswerOptions, AnswerResult } from "./answer";
export { planResume, type ResumePlan } from "./resume";
export type { StreamOptions } from "./setup";
export { parseChatStreamState, type ChatStreamState } from "./state";

export class ChatStream {
  readonly chatId: string;
  /** Sink cells of the template preamble (BOS + system prompt), without pins. */
  readonly templateSinks: number;
  /** Things the user should know (a pin that could not be kept…), taken by the caller. */
  readonly notices: string[] = [];
  private readonly transcript = new Transcript();
  private readonly pinned: PinnedSinks;
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
    options: StreamOptions,
  ) {
    this.chatId = options.chatId;
    this.templateSinks = sequence.sinks;
    this.pinned = new PinnedSinks(sequence, this.templateSinks, options.shiftSize, (notice) => this.notices.push(notice));
  }

  static async create(
    context: LlamaContext,
    model: LlamaModel,
    formatter: TurnFormatter,
    options: StreamOptions,
  ): Promise<ChatStream> {
    const preamble = formatter.preamble();
    const { sequence, onShift } = await openChatSequence(context, preamble, options);
    try {
      await sequence.ingest(preamble);
    } catch (error) {
      await sequence.dispose();
      throw error;
    }
    const stream = new ChatStream(sequence, formatter, model, options);
    onShift((event) => stream.recordShift(event));
    return stream;
  }

  get busy(): boolean {
    return this.answering !== undefined;
  }

  get contextSize(): number {
    return this.sequence.context.contextSize;
  }

  /** Most tokens pinned messages may use: a quarter of the window. */
  get pinBudget(): number {
    return this.pinned.budget;
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
        this.transcript.markNotRestored(message.id);
        continue;
      }
      const start = this.streamEnd();
      await this.sequence.ingest(tokens, { signal });
      evaluated += tokens.length;
      pinnedUsed += tokens.length;
      this.transcript.add(message.id, message.role, start, start + tokens.length);
      this.markTurn(message.role);
      this.pinned.addAbsorbedNow(message.id, start, start + tokens.length);
    }
    // The newest unpinned messages that fit in half of the window, starting with a user message.
    const rest = history.filter((message) => message.pinned !== true);
    const first = newestThatFit(rest, Math.floor(window / 2), (message) =>
      message.role === "user" ? this.formatter.nextTurn(message.text).length : this.formatter.answer(message.text).length,
    );
    for (let i = 0; i < first; i++) this.transcript.markNotRestored(rest[i]!.id);
    for (const message of rest.slice(first)) {
      const tokens = this.tokensFor(message);
      const start = this.streamEnd();
      if (tokens.length > 0) await this.sequence.ingest(tokens, { signal });
      evaluated += tokens.length;
      this.transcript.add(message.id, message.role, start, start + tokens.length);
      this.markTurn(message.role);
    }
    return evaluated;
  }

  // ---- resumable state (KV snapshots) ----

  /** This stream's state, to save with its KV state. Call between answers. */
  exportState(): ChatStreamState {
    if (this.answering !== undefined) throw new Error("An answer is still being generated in this chat.");
    const transcript = this.transcript.exportState();
    return {
      version: 1,
      chatId: this.chatId,
      templateSinks: this.templateSinks,
      segments: transcript.segments,
      pins: [...this.pinned.pins.values()].map((pin) => ({ ...pin })),
      notRestored: transcript.notRestored,
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
    const { sequence, onShift } = await openChatSequence(context, preamble, options);
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
      onShift((event) => stream.recordShift(event));
      sequence.adoptRestoredState(state.sequence);
      stream.transcript.adoptState(state);
      for (const pin of state.pins) stream.pinned.pins.set(pin.id, { ...pin });
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
    for (const id of plan.outside) this.transcript.markNotRestored(id);
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
      await this.ingestAbsorbingPins(tokens, signal, false);
      evaluated += tokens.length;
      this.transcript.add(message.id, message.role, start, start + tokens.length);
      this.markTurn(message.role);
    }
    const pinned = new Set(history.filter((message) => message.pinned === true).map((message) => message.id));
    for (const id of [...this.pinned.pins.keys()]) if (!pinned.has(id)) this.pin(id, false);
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
    const existing = this.pinned.pins.get(messageId);
    if (!pinned) {
      this.pinned.remove(messageId);
      return { ok: true };
    }
    if (existing) return { ok: true };
    const segment = this.transcript.get(messageId);
    if (!segment || this.answering === messageId) {
      return { ok: false, message: "This message is not part of what the model has seen yet; pin it after it is sent and answered." };
    }
    return this.pinned.tryPin(messageId, segment.start, segment.end);
  }

  windowState(): ChatWindowState {
    const stats = this.sequence.stats();
    return {
      chatId: this.chatId,
      ...this.transcript.window(this.sequence.cellStreamIndices(), this.pinned.pins),
      pinnedTokens: this.pinned.pinnedTokens(),
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

  private markTurn(role: Segment["role"]): void {
    if (role === "user") this.hasTurns = true;
    this.answerTail = "";
  }

  private tokensFor(message: ChatHistoryMessage): Token[] {
    if (message.role === "assistant") return this.hasTurns ? this.formatter.answer(message.text) : [];
    return this.hasTurns ? this.formatter.nextTurn(message.text) : this.formatter.firstTurn(message.text);
  }

  /**
   * Ingests `tokens` in pieces that each cause at most one eviction, absorbing pins before it.
   * With `stopOnAbort`, an abort ends it quietly (before a piece, or failing one); otherwise the
   * abort error is thrown. `onPiece` runs after every piece.
   */
  private async ingestAbsorbingPins(tokens: readonly Token[], signal: AbortSignal, stopOnAbort: boolean, onPiece?: () => void): Promise<void> {
    let offset = 0;
    while (offset < tokens.length) {
      if (stopOnAbort && signal.aborted) break;
      const piece = tokens.slice(offset, offset + this.pinned.nextPieceLength());
      this.pinned.absorb(piece.length);
      try {
        await this.sequence.ingest(piece, { signal });
      } catch (error) {
        if (!stopOnAbort || !signal.aborted) throw error;
        break;
      }
      offset += piece.length;
      onPiece?.();
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
    this.transcript.add(userMessageId, "user", userStart, userStart + turn.length);
    const promptStarted = performance.now();
    let kvCellsMax = this.sequence.stats().kvCells;
    // All but the last token: in pieces that each cause at most one eviction, so pins are
    // absorbed before the eviction front reaches them.
    await this.ingestAbsorbingPins(turn.slice(0, -1), signal, true, () => {
      kvCellsMax = Math.max(kvCellsMax, this.sequence.stats().kvCells);
    });
    const promptMs = performance.now() - promptStarted;
    const generationStarted = performance.now();
    const assistantStart = userStart + turn.length;
    const answer = await runAnswerLoop(
      {
        sequence: this.sequence,
        model: this.model,
        formatter: this.formatter,
        lastTurnTokens: turn.slice(-1),
        absorbPins: (incoming) => this.pinned.absorb(incoming),
        kvCellsMax,
      },
      options,
    );
    this.answerTail = answer.answerTail;
    kvCellsMax = answer.kvCellsMax;
    const end = this.streamEnd();
    if (end < assistantStart) {
      // Cancelled while the turn was being read: the user segment ends where the stream does.
      this.transcript.add(userMessageId, "user", userStart, end);
    }
    this.transcript.add(assistantMessageId, "assistant", Math.min(assistantStart, end), end);
    kvCellsMax = Math.max(kvCellsMax, this.sequence.stats().kvCells);
    return {
      text: answer.text,
      stopReason: answer.stopReason,
      generatedTokens: answer.generatedTokens,
      promptTokens: turn.length,
      promptMs,
      generationMs: performance.now() - generationStarted,
      kvCellsMax,
    };
  }
}
