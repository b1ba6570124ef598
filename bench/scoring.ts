// Log-probability scoring on a StreamingSequence, for benches and model tests only (perplexity,
// fidelity against a fresh cache). It plugs into `ingest` as its chunk evaluator, so evictions,
// chunking and accounting are exactly those of a plain ingest; only the evaluation reads logits.
import type { ControlledEvaluateInputItem, Token } from "node-llama-cpp";
import { streamingContextShift, type IngestResult, type StreamingSequence } from "../server/kv/streamingSequence";

export interface ScoreOptions {
  signal?: AbortSignal;
  /** Return log p(tokens[i+1] | everything before) for i in [0, tokens.length - 1). */
  score?: boolean;
  /** Return the log-probabilities of every vocabulary token to follow the last ingested token. */
  nextDistribution?: boolean;
}

export interface ScoredIngestResult extends IngestResult {
  /** With `score`: length tokens.length - 1. */
  logProbs?: Float64Array;
  /** With `nextDistribution`: token id → log-probability. */
  nextLogProbs?: Map<Token, number>;
}

/** `engine.ingest(tokens)` that also returns the log-probabilities asked for. */
export async function ingestScored(engine: StreamingSequence, tokens: readonly Token[], options: ScoreOptions): Promise<ScoredIngestResult> {
  const total = tokens.length;
  const scored: Omit<ScoredIngestResult, keyof IngestResult> = {};
  if (options.score) scored.logProbs = new Float64Array(Math.max(0, total - 1));
  const contextShift = streamingContextShift(() => engine);
  const result = await engine.ingest(tokens, {
    signal: options.signal,
    evaluateChunk: async (chunk, offset) => {
      const last = offset + chunk.length === total;
      if (options.score || (options.nextDistribution && last)) {
        await evaluateScored(engine, chunk, tokens, offset, scored, options.score === true, options.nextDistribution === true && last);
      } else {
        await engine.sequence.evaluateWithoutGeneratingNewTokens(chunk as Token[], { contextShift });
      }
    },
  });
  return { ...result, ...scored };
}

async function evaluateScored(
  engine: StreamingSequence,
  chunk: readonly Token[],
  all: readonly Token[],
  offset: number,
  result: Omit<ScoredIngestResult, keyof IngestResult>,
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
  const outputs = await engine.sequence.controlledEvaluate(items, { contextShift: streamingContextShift(() => engine) });
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
