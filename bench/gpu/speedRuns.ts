// The measured runs shared by the GPU speed bench (bench/gpu/speed.ts) and the CPU one
// (bench/speed.ts): node-llama-cpp's bare evaluation loop, the product's engine (StreamingSequence)
// and one bare run split into its native calls. Same sampling for all (temperature 0.8, top-k 40,
// top-p 0.95, seed 42 unless set); every run stops at an end-of-generation token or `decode` tokens.
import type { LlamaContext, Token } from "node-llama-cpp";
import { shiftCapabilityOfModel } from "../../server/kv/shiftCapability";
import { StreamingSequence } from "../../server/kv/streamingSequence";
import { median, round } from "./common";

export type Sampling = { temperature: number; topK?: number; topP?: number; seed?: number };
export const defaultSampling: Sampling = { temperature: 0.8, topK: 40, topP: 0.95, seed: 42 };


export interface Run {
  promptTokens: number;
  promptMs: number;
  decodeTokens: number;
  /** From the first generated token to the last. */
  decodeMs: number;
  firstTokenMs: number;
}

export async function bareRun(context: LlamaContext, prompt: readonly Token[], decode: number, sampling: Sampling = defaultSampling): Promise<Run> {
  const sequence = context.getSequence();
  try {
    const body = prompt.slice(0, -1);
    const t0 = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(body);
    const promptMs = performance.now() - t0;
    let count = 0;
    let tFirst = 0;
    let tLast = 0;
    const t1 = performance.now();
    for await (const _token of sequence.evaluate([prompt[prompt.length - 1]!], sampling)) {
      tLast = performance.now();
      if (count === 0) tFirst = tLast;
      if (++count >= decode) break;
    }
    return { promptTokens: body.length, promptMs, decodeTokens: count, decodeMs: tLast - tFirst, firstTokenMs: tFirst - t1 };
  } finally {
    await sequence.dispose();
  }
}

export async function engineRun(
  context: LlamaContext,
  prompt: readonly Token[],
  decode: number,
  options: { sinks: number; capability: ReturnType<typeof shiftCapabilityOfModel> },
  sampling: Sampling = defaultSampling,
): Promise<Run & { engineStats: ReturnType<StreamingSequence["stats"]> }> {
  const engine = await StreamingSequence.create(context, { sinks: options.sinks, capability: options.capability, label: "bench:gpu-speed" });
  try {
    const body = prompt.slice(0, -1);
    const t0 = performance.now();
    await engine.ingest(body);
    const promptMs = performance.now() - t0;
    let count = 0;
    let tFirst = 0;
    let tLast = 0;
    const t1 = performance.now();
    for await (const _token of engine.generate({ maxTokens: decode, input: [prompt[prompt.length - 1]!], ...sampling })) {
      tLast = performance.now();
      if (count === 0) tFirst = tLast;
      count++;
    }
    return {
      promptTokens: body.length,
      promptMs,
      decodeTokens: count,
      decodeMs: tLast - tFirst,
      firstTokenMs: tFirst - t1,
      engineStats: engine.stats(),
    };
  } finally {
    await engine.dispose();
  }
}

/**
 * Where one decoded token's time goes: wraps the two native calls node-llama-cpp makes per token
 * (`decodeBatch`, `sampleToken`; each an N-API async worker on libuv's thread pool) with timers from
 * the call to its promise settling. The rest of the wall time per token is JavaScript (node-llama-cpp's
 * generator, batch dispatch, the engine) plus the event loop's hops. Bench-only: it pokes `_ctx`.
 */
export interface Split {
  tokens: number;
  wallMs: number;
  decodeMs: number;
  decodeCalls: number;
  sampleMs: number;
  sampleCalls: number;
}

export async function splitRun(context: LlamaContext, prompt: readonly Token[], decode: number, sampling: Sampling = defaultSampling): Promise<Split> {
  // The addon's methods are read-only properties: a Proxy in place of `_ctx` wraps them instead.
  const holder = context as unknown as { _ctx: object };
  const native = holder._ctx as Record<string, (...args: unknown[]) => unknown>;
  const split: Split = { tokens: 0, wallMs: 0, decodeMs: 0, decodeCalls: 0, sampleMs: 0, sampleCalls: 0 };
  let timing = false;
  const timed = (name: string, add: (ms: number) => void) => (...args: unknown[]) => {
    const t = performance.now();
    const result = native[name]!.apply(native, args);
    if (!timing || !(result instanceof Promise)) return result;
    return result.finally(() => add(performance.now() - t));
  };
  const decodeBatch = timed("decodeBatch", (ms) => ((split.decodeMs += ms), split.decodeCalls++));
  const sampleToken = timed("sampleToken", (ms) => ((split.sampleMs += ms), split.sampleCalls++));
  holder._ctx = new Proxy(native, {
    get(target, key) {
      if (key === "decodeBatch") return decodeBatch;
      if (key === "sampleToken") return sampleToken;
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const sequence = context.getSequence();
  try {
    await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1));
    let count = 0;
    let tFirst = 0;
    for await (const _token of sequence.evaluate([prompt[prompt.length - 1]!], sampling)) {
      if (count === 0) {
        tFirst = performance.now();
        timing = true; // from the first token on: the prompt's last token is not a decode step
      }
      if (++count >= decode) break;
    }
    split.wallMs = performance.now() - tFirst;
    split.tokens = count - 1;
  } finally {
    timing = false;
    await sequence.dispose();
    holder._ctx = native;
  }
  return split;
}

export function splitPerToken(split: Split) {
  const per = (ms: number) => round(ms / Math.max(1, split.tokens), 4);
  const other = split.wallMs - split.decodeMs - split.sampleMs;
  return {
    tokens: split.tokens,
    wallMsPerToken: per(split.wallMs),
    decodeMsPerToken: per(split.decodeMs),
    sampleMsPerToken: per(split.sampleMs),
    jsAndHopsMsPerToken: per(other),
    decodeCalls: split.decodeCalls,
    sampleCalls: split.sampleCalls,
  };
}

export function rates(runs: readonly Run[]) {
  return {
    promptTokensPerSecond: round(median(runs.map((r) => (r.promptTokens / r.promptMs) * 1000)), 1),
    decodeTokensPerSecond: round(median(runs.map((r) => ((r.decodeTokens - 1) / r.decodeMs) * 1000)), 1),
    decodeMsPerToken: round(median(runs.map((r) => r.decodeMs / (r.decodeTokens - 1))), 4),
    firstTokenMs: round(median(runs.map((r) => r.firstTokenMs)), 3),
    decodeTokens: runs.map((r) => r.decodeTokens),
    promptTokens: runs[0]?.promptTokens ?? 0,
  };
}
