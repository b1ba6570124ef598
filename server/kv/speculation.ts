// Speculative decoding for a StreamingSequence: which token predictor to use (pure decision) and how
// to build it from node-llama-cpp's own predictors, so that it stays correct under sink/window shifts.
//
// How the predictors behave under the StreamingLLM policy (read from node-llama-cpp 3.22.1):
// - Predicted tokens are decoded into KV cells after the sequence's tokens; validated ones stay
//   there as "loaded predictions" that `nextTokenIndex` / `contextTokens` do not count. Refuted ones
//   are erased at once. The library never lets predictions trigger a context shift.
// - Any `eraseContextTokenRanges` (our eviction after the sinks) also erases the loaded predictions
//   and resets the predictor, so an eviction leaves no predicted cell behind and never touches sinks.
// - The input-lookup predictor only looks in the tokens given to `updateInputTokens`: the engine
//   hands it the cached tokens plus the new input before each generation (primePredictor).
// - The draft predictor evaluates a sequence of the draft model with the target's contextShift
//   options unless overridden: they would call the TARGET engine's strategy for the draft sequence,
//   so the draft gets its own sink-keeping strategy here.

import type {
  ContextShiftOptions,
  DraftSequenceTokenPredictor,
  InputLookupTokenPredictor,
  LlamaContextSequence,
  LlamaModel,
  Token,
  TokenPredictor,
} from "node-llama-cpp";
import { speculativeModes, type SpeculativeMode } from "../../common/settings";

export type { SpeculativeMode } from "../../common/settings";

/** What actually runs. */
export type SpeculativeKind = "off" | "lookup" | "draft";

export interface SpeculationDecision {
  kind: SpeculativeKind;
  /** Why the requested mode was not used as is (for the log / status), in words for the user. */
  reason?: string;
}

/** Enough of a vocabulary to tell whether two models tokenize alike. */
export interface VocabularyFingerprint {
  size: number;
  /** [token id, token text] for a spread sample of ids. */
  samples: [number, string][];
}

export interface VocabularyComparison {
  compatible: boolean;
  reason?: string;
}

/** Tokens of the lookup window handed to the input-lookup predictor (its search is O(window)). */
export const LOOKUP_WINDOW = 4096;
/** Tokens the input-lookup predictor proposes per step. */
export const LOOKUP_PREDICTION_MAX = 3;
/** Tokens the draft model proposes per step. */
export const DRAFT_PREDICTION_MAX = 8;

export function parseSpeculativeMode(value: unknown): SpeculativeMode | undefined {
  return typeof value === "string" && (speculativeModes as readonly string[]).includes(value) ? (value as SpeculativeMode) : undefined;
}

/**
 * Which predictor runs. "auto" = draft when a draft model is set and compatible, else lookup;
 * "draft" without a usable draft model falls back to lookup and says why.
 */
export function decideSpeculation(mode: SpeculativeMode, draft: { path: string; comparison?: VocabularyComparison }): SpeculationDecision {
  if (mode === "off" || mode === "lookup") return { kind: mode };
  const hasPath = draft.path.trim() !== "";
  if (hasPath && draft.comparison?.compatible === true) return { kind: "draft" };
  if (mode === "auto" && !hasPath) return { kind: "lookup" };
  const why = !hasPath
    ? "no draft model is set (streamsink.speculativeDraftModelPath)"
    : draft.comparison == null
      ? `the draft model ${draft.path} was not loaded`
      : `the draft model ${draft.path} does not fit this model: ${draft.comparison.reason ?? "different vocabulary"}`;
  return { kind: "lookup", reason: `Speculative decoding uses prompt lookup because ${why}.` };
}

/** Samples `count` token ids spread over the vocabulary (always including the first and last). */
export function sampleTokenIds(size: number, count = 64): number[] {
  if (size <= 0) return [];
  const n = Math.min(size, Math.max(2, count));
  const ids = new Set<number>();
  for (let i = 0; i < n; i++) ids.add(Math.round((i * (size - 1)) / (n - 1)));
  return [...ids];
}

export function compareVocabularies(a: VocabularyFingerprint, b: VocabularyFingerprint): VocabularyComparison {
  if (a.size !== b.size) return { compatible: false, reason: `vocabulary sizes differ (${a.size} vs ${b.size} tokens)` };
  const other = new Map(b.samples);
  for (const [id, text] of a.samples) {
    const theirs = other.get(id);
    if (theirs !== undefined && theirs !== text) {
      return { compatible: false, reason: `token ${id} is ${JSON.stringify(text)} in one model and ${JSON.stringify(theirs)} in the other` };
    }
  }
  return { compatible: true };
}

/** Reads a model's fingerprint (vocabulary size from its GGUF metadata, sampled token texts). */
export function vocabularyFingerprint(model: LlamaModel, sampleCount = 64): VocabularyFingerprint {
  const tokens = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } }).tokenizer?.ggml?.tokens;
  const size = Array.isArray(tokens) ? tokens.length : 0;
  const samples = sampleTokenIds(size, sampleCount).map((id): [number, string] => [id, model.detokenize([id as Token], true)]);
  return { size, samples };
}

/** The predictor constructors, from the node-llama-cpp module the caller imported (ESM). */
export interface PredictorClasses {
  InputLookupTokenPredictor: typeof InputLookupTokenPredictor;
  DraftSequenceTokenPredictor: typeof DraftSequenceTokenPredictor;
}

/**
 * A plain StreamingLLM strategy for a draft sequence: erase `[sinks, sinks + size)`, never the sinks
 * and never an empty list. Independent of any StreamingSequence (see the header).
 */
export function draftContextShift(sinks: number): ContextShiftOptions {
  return {
    size: (sequence) => Math.max(1, Math.min(Math.ceil(sequence.contextSize / 4), sequence.nextTokenIndex - sinks)),
    strategy: ({ sequence, size }) => {
      const start = Math.min(sinks, Math.max(0, sequence.nextTokenIndex - 1));
      return [{ start, end: Math.max(start + 1, Math.min(sequence.nextTokenIndex, start + size)) }];
    },
  };
}

/** Builds the predictor for a decision; "draft" needs `draftSequence` (its owner disposes it). */
export function createTokenPredictor(
  classes: PredictorClasses,
  kind: SpeculativeKind,
  options: { draftSequence?: LlamaContextSequence; sinks?: number } = {},
): TokenPredictor | undefined {
  if (kind === "off") return undefined;
  if (kind === "draft") {
    if (options.draftSequence == null) throw new Error("Speculative decoding with a draft model needs a draft sequence.");
    return new classes.DraftSequenceTokenPredictor(options.draftSequence, {
      maxTokens: DRAFT_PREDICTION_MAX,
      evaluateOptions: { contextShift: draftContextShift(options.sinks ?? 4) },
    });
  }
  return new classes.InputLookupTokenPredictor({
    patternLength: { min: 3 },
    predictionLength: { max: LOOKUP_PREDICTION_MAX },
  });
}

/** Before a generation: the lookup predictor searches the cache and the new input (bounded). */
export function primePredictor(sequence: LlamaContextSequence, input: readonly Token[]): void {
  const predictor = sequence.tokenPredictor;
  if (predictor == null) return;
  const cached = sequence.contextTokens;
  const from = Math.max(0, cached.length + input.length - LOOKUP_WINDOW);
  const window = from >= cached.length ? input.slice(from - cached.length) : [...cached.slice(from), ...input];
  predictor.updateInputTokens(window);
}

export interface PredictionStats {
  validated: number;
  refuted: number;
  /** validated / (validated + refuted), 0 before any prediction. */
  acceptance: number;
}

export function predictionStats(sequence: LlamaContextSequence): PredictionStats | undefined {
  if (sequence.tokenPredictor == null || sequence.disposed) return undefined;
  const { validated, refuted } = sequence.tokenPredictions;
  const total = validated + refuted;
  return { validated, refuted, acceptance: total > 0 ? validated / total : 0 };
}
