// The answer loop of a chat turn: samples the answer token by token on the stream's sequence, shows
// its text as it grows (holding back an incomplete character or a possible beginning of a stop
// text), stops at a stop token or stop text, and lets pins be absorbed before every evaluation.
import type { LlamaModel, Token } from "node-llama-cpp";
import type { StreamingSequence } from "../kv/streamingSequence";
import type { TurnFormatter } from "./format";

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

export interface AnswerLoop {
  sequence: StreamingSequence;
  model: LlamaModel;
  formatter: TurnFormatter;
  /** The turn's last token (`turn.slice(-1)`): the first one the generation evaluates. */
  lastTurnTokens: readonly Token[];
  /** Grows the sink region over pins the next evaluation of `incoming` tokens would evict. */
  absorbPins(incoming: number): void;
  /** Most cells seen so far (the answer raises it). */
  kvCellsMax: number;
}

export interface AnswerLoopResult {
  text: string;
  /** The stop text that ended the answer (in the cache, not shown), or "". */
  answerTail: string;
  stopReason: AnswerResult["stopReason"];
  generatedTokens: number;
  kvCellsMax: number;
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

/** Generates the answer (nothing when the signal is already aborted) and emits its text. */
export async function runAnswerLoop(loop: AnswerLoop, options: AnswerOptions): Promise<AnswerLoopResult> {
  const { sequence, model, formatter } = loop;
  const { signal } = options;
  const generated: Token[] = [];
  let kvCellsMax = loop.kvCellsMax;
  let shown = "";
  let emitted = "";
  let answerTail = "";
  let stopReason: AnswerResult["stopReason"] = "end";
  let shifts = sequence.stats().shifts;
  const stopTexts = formatter.stop.texts;
  const stopTokens = formatter.stop.tokens;
  if (!signal.aborted) {
    loop.absorbPins(1);
    const tokens = sequence.generate({
      input: loop.lastTurnTokens,
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      seed: options.seed,
      signal,
      stopOnTokens: [...stopTokens],
    });
    for await (const token of tokens) {
      // Leaving the loop evaluates the last token (which may evict): absorb pins first.
      if (stopTokens.has(token)) {
        loop.absorbPins(1);
        break;
      }
      generated.push(token);
      const full = model.detokenize(formatter.shownTokens(generated), false);
      const stopAt = stopTexts.reduce((best, stop) => {
        const index = full.indexOf(stop);
        return index >= 0 && (best < 0 || index < best) ? index : best;
      }, -1);
      if (stopAt >= 0) {
        shown = full.slice(0, stopAt);
        answerTail = full.slice(stopAt);
        loop.absorbPins(1);
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
      const stats = sequence.stats();
      kvCellsMax = Math.max(kvCellsMax, stats.kvCells);
      if (stats.shifts !== shifts) {
        shifts = stats.shifts;
        options.onWindowMove();
      }
      loop.absorbPins(1);
    }
  }
  if (signal.aborted) stopReason = "cancelled";
  else if (generated.length >= options.maxTokens) stopReason = "maxTokens";
  if (answerTail === "") shown = model.detokenize(formatter.shownTokens(generated), false);
  if (shown.length > emitted.length && shown.startsWith(emitted)) options.onText(shown.slice(emitted.length));
  return { text: shown, answerTail, stopReason, generatedTokens: generated.length, kvCellsMax };
}
