// Speculative decoding on the CPU: the product's engine (StreamingSequence) generating greedily with
// and without node-llama-cpp's token predictors, on a copy-heavy workload (the model rewrites a
// Python module that is in its prompt: as many of its ~55 lines as fit in the model's training
// context with the answer) and on novel text (a continuation not in the prompt).
//
//   npm run bench:speculative -- [--model ../shared/models/tinycoder-16m-q8_0.gguf]
//        [--draft-model ../shared/models/tinycoder-16m-f16.gguf] [--threads 1] [--tokens 128]
//        [--repeats 3] [--json]
//
// tokens/s = generated tokens / wall time from the first decode to the last token (the prompt is
// ingested before, untimed); the median over --repeats runs, modes interleaved within a repeat.
// tok per CPU s = the same tokens over the process's CPU time (steadier on a shared machine).
// acceptance = validated / (validated + refuted) predictions; speedup = lookup ÷ off (wall),
// cpuSpeedup = the same on CPU time. verifyCpuMsPerBatch: CPU ms of one decode of k tokens with a
// sampled token at each position (the cost of verifying k - 1 predictions), k = 1, 2, 4, 6.
// sameTokens: every greedy output with a predictor equals the output without one.
import type { Llama, LlamaContext, LlamaModel, Token, TokenPredictor } from "node-llama-cpp";
import { shiftCapabilityOfModel } from "../server/kv/shiftCapability";
import {
  compareVocabularies,
  createTokenPredictor,
  decideSpeculation,
  vocabularyFingerprint,
  type PredictorClasses,
  type SpeculativeKind,
} from "../server/kv/speculation";
import { StreamingSequence } from "../server/kv/streamingSequence";
import { models } from "../test/support/paths";
import { COPY_HEAVY_LINES, copyHeavyPrompt, novelPrompt } from "../test/support/speculativeWorkloads";
import { flag, int, machine, parseArgs, round, str, table } from "./cli";
import { median } from "./gpu/common";

const sinks = 4;

interface RunResult {
  tokens: Token[];
  ms: number;
  /** Process CPU time (all threads) over the same span: less sensitive to other load on the machine. */
  cpuMs: number;
  validated: number;
  refuted: number;
}

interface Setup {
  llama: Llama;
  classes: PredictorClasses;
  model: LlamaModel;
  draft?: LlamaModel;
  threads: number;
  tokens: number;
}

async function predictorFor(setup: Setup, kind: SpeculativeKind, contextSize: number): Promise<{ predictor?: TokenPredictor; dispose(): Promise<void> }> {
  if (kind !== "draft") return { predictor: createTokenPredictor(setup.classes, kind), dispose: async () => {} };
  const draftContext = await setup.draft!.createContext({ contextSize, threads: setup.threads });
  const predictor = createTokenPredictor(setup.classes, "draft", { draftSequence: draftContext.getSequence(), sinks });
  return { predictor, dispose: () => draftContext.dispose() };
}

async function runOnce(setup: Setup, prompt: readonly Token[], kind: SpeculativeKind): Promise<RunResult> {
  const contextSize = Math.ceil((prompt.length + setup.tokens + 2) / 256) * 256;
  const context: LlamaContext = await setup.model.createContext({ contextSize, threads: setup.threads });
  const draft = await predictorFor(setup, kind, contextSize);
  try {
    const engine = await StreamingSequence.create(context, {
      sinks,
      capability: shiftCapabilityOfModel(setup.model),
      label: `bench:speculative-${kind}`,
      tokenPredictor: draft.predictor,
    });
    await engine.ingest(prompt.slice(0, -1));
    const tokens: Token[] = [];
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for await (const token of engine.generate({ input: prompt.slice(-1), maxTokens: setup.tokens, temperature: 0 })) tokens.push(token);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const predictions = engine.stats().predictions;
    await engine.dispose();
    return { tokens, ms, cpuMs: (cpu.user + cpu.system) / 1000, validated: predictions?.validated ?? 0, refuted: predictions?.refuted ?? 0 };
  } finally {
    await context.dispose();
    await draft.dispose();
  }
}

/**
 * What verification costs: process CPU ms to decode a batch of k tokens after `prompt` with a
 * sampled token at every position (what checking k - 1 predictions takes), median of 20 per k.
 */
async function batchCost(setup: Setup, prompt: readonly Token[], sizes: readonly number[]): Promise<Record<string, number>> {
  const context = await setup.model.createContext({ contextSize: Math.ceil((prompt.length + 16) / 256) * 256, threads: setup.threads });
  try {
    const sequence = context.getSequence();
    const body = prompt.slice(0, -8);
    await sequence.evaluateWithoutGeneratingNewTokens(body);
    const out: Record<string, number> = {};
    for (const k of sizes) {
      const samples: number[] = [];
      for (let i = 0; i < 20; i++) {
        const batch = prompt.slice(body.length, body.length + k);
        const cpu0 = process.cpuUsage();
        await sequence.controlledEvaluate(batch.map((token) => [token, { generateNext: { token: true } }]));
        const cpu = process.cpuUsage(cpu0);
        samples.push((cpu.user + cpu.system) / 1000);
        await sequence.eraseContextTokenRanges([{ start: body.length, end: body.length + k }]);
      }
      out[String(k)] = round(median(samples), 2);
    }
    return out;
  } finally {
    await context.dispose();
  }
}

interface WorkloadResult {
  acceptance: number;
  speedup: number;
  tokensPerSecond: Partial<Record<SpeculativeKind, number>>;
  /** Generated tokens per CPU second (process CPU time), and lookup ÷ off on that measure. */
  cpuTokensPerSecond: Partial<Record<SpeculativeKind, number>>;
  cpuSpeedup: number;
  generatedTokens: number;
  predictions: Partial<Record<SpeculativeKind, { validated: number; refuted: number }>>;
  draft?: { acceptance: number; speedup: number };
  sameTokens: boolean;
}

async function workload(setup: Setup, prompt: readonly Token[], kinds: readonly SpeculativeKind[], repeats: number): Promise<WorkloadResult> {
  const rates = new Map<SpeculativeKind, number[]>(kinds.map((k) => [k, []]));
  const cpuRates = new Map<SpeculativeKind, number[]>(kinds.map((k) => [k, []]));
  const counts = new Map<SpeculativeKind, { validated: number; refuted: number }>(kinds.map((k) => [k, { validated: 0, refuted: 0 }]));
  let reference: Token[] | undefined;
  let same = true;
  for (let r = 0; r < repeats; r++) {
    for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) {
      const run = await runOnce(setup, prompt, kind);
      rates.get(kind)!.push((run.tokens.length / run.ms) * 1000);
      cpuRates.get(kind)!.push((run.tokens.length / run.cpuMs) * 1000);
      const c = counts.get(kind)!;
      c.validated += run.validated;
      c.refuted += run.refuted;
      if (reference === undefined) reference = run.tokens;
      else if (run.tokens.length !== reference.length || run.tokens.some((t, i) => t !== reference![i])) same = false;
    }
  }
  const tps = Object.fromEntries(kinds.map((k) => [k, round(median(rates.get(k)!), 1)])) as Partial<Record<SpeculativeKind, number>>;
  const cpuTps = Object.fromEntries(kinds.map((k) => [k, round(median(cpuRates.get(k)!), 1)])) as Partial<Record<SpeculativeKind, number>>;
  const acceptanceOf = (k: SpeculativeKind): number => {
    const c = counts.get(k)!;
    return c.validated + c.refuted > 0 ? round(c.validated / (c.validated + c.refuted)) : 0;
  };
  const speedupOf = (k: SpeculativeKind): number => round(tps[k]! / tps.off!);
  return {
    acceptance: acceptanceOf("lookup"),
    speedup: speedupOf("lookup"),
    tokensPerSecond: tps,
    cpuTokensPerSecond: cpuTps,
    cpuSpeedup: round(cpuTps.lookup! / cpuTps.off!),
    generatedTokens: reference?.length ?? 0,
    predictions: Object.fromEntries(kinds.filter((k) => k !== "off").map((k) => [k, counts.get(k)!])),
    ...(kinds.includes("draft") ? { draft: { acceptance: acceptanceOf("draft"), speedup: speedupOf("draft") } } : {}),
    sameTokens: same,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const json = flag(args, "json");
  const modelPath = str(args, "model", models.tinycoderQ8);
  const draftPath = str(args, "draft-model", "");
  const threads = Math.max(1, int(args, "threads", 1));
  const tokens = Math.max(1, int(args, "tokens", 128));
  const repeats = Math.max(1, int(args, "repeats", 3));

  const lib = await import("node-llama-cpp");
  const llama = await lib.getLlama({ gpu: false });
  const model = await llama.loadModel({ modelPath });
  const setup: Setup = { llama, classes: lib, model, threads, tokens };
  const kinds: SpeculativeKind[] = ["off", "lookup"];
  let draftNote: string | undefined;
  if (draftPath !== "") {
    setup.draft = await llama.loadModel({ modelPath: draftPath });
    const comparison = compareVocabularies(vocabularyFingerprint(model), vocabularyFingerprint(setup.draft));
    const decision = decideSpeculation("draft", { path: draftPath, comparison });
    if (decision.kind === "draft") kinds.push("draft");
    else draftNote = decision.reason;
  }
  const bos = model.tokens.bos != null && model.tokens.shouldPrependBosToken ? [model.tokens.bos] : [];
  // The longest copy-heavy prompt (whole lines) that leaves room for the answer in the model's
  // training context: past it small models degenerate (tinycoder: 512 tokens).
  const train = model.trainContextSize;
  let lines = COPY_HEAVY_LINES;
  const copyTokens = (n: number): Token[] => [...bos, ...model.tokenize(copyHeavyPrompt(n), false)];
  while (lines > 5 && copyTokens(lines).length + tokens + 2 > train) lines--;
  const prompts = {
    copyHeavy: copyTokens(lines),
    novel: [...bos, ...model.tokenize(novelPrompt(), false)],
  };
  const results = {
    copyHeavy: await workload(setup, prompts.copyHeavy, kinds, repeats),
    novel: await workload(setup, prompts.novel, kinds, repeats),
  };
  const sameTokens = results.copyHeavy.sameTokens && results.novel.sameTokens;
  const verifyCpuMs = await batchCost(setup, prompts.copyHeavy, [1, 2, 4, 6]);
  const report = {
    workloads: {
      copyHeavy: { acceptance: results.copyHeavy.acceptance, speedup: results.copyHeavy.speedup, tokensPerSecond: results.copyHeavy.tokensPerSecond, cpuSpeedup: results.copyHeavy.cpuSpeedup, ...(results.copyHeavy.draft ? { draft: results.copyHeavy.draft } : {}) },
      novel: { acceptance: results.novel.acceptance, speedup: results.novel.speedup, tokensPerSecond: results.novel.tokensPerSecond, cpuSpeedup: results.novel.cpuSpeedup, ...(results.novel.draft ? { draft: results.novel.draft } : {}) },
    },
    sameTokens,
    promptTokens: { copyHeavy: prompts.copyHeavy.length, novel: prompts.novel.length },
    copyHeavyLines: lines,
    verifyCpuMsPerBatch: verifyCpuMs,
    generatedTokens: { copyHeavy: results.copyHeavy.generatedTokens, novel: results.novel.generatedTokens },
    predictions: { copyHeavy: results.copyHeavy.predictions, novel: results.novel.predictions },
    settings: { model: modelPath, draftModel: draftPath || null, threads, tokens, repeats, greedy: true, sinks },
    ...(draftNote ? { note: draftNote } : {}),
    machine: machine(),
    date: new Date().toISOString(),
  };
  if (!json) {
    const rows = (["copyHeavy", "novel"] as const).flatMap((name) =>
      kinds.map((k) => {
        const r = results[name];
        const acceptance = k === "off" ? "-" : k === "lookup" ? r.acceptance : r.draft!.acceptance;
        const speedup = k === "off" ? 1 : k === "lookup" ? r.speedup : r.draft!.speedup;
        return [name, k, r.tokensPerSecond[k]!, r.cpuTokensPerSecond[k]!, acceptance, speedup, r.generatedTokens];
      }),
    );
    process.stdout.write(`${table(["workload", "predictor", "tok/s (wall)", "tok per CPU s", "acceptance", "speedup (wall)", "tokens"], rows)}\n`);
    process.stdout.write(`same greedy tokens with and without speculation: ${sameTokens}\n`);
    const costs = Object.entries(verifyCpuMs).map(([k, ms]) => `${k} tokens ${ms} ms (${round(ms / verifyCpuMs["1"]!, 2)}×)`);
    process.stdout.write(`CPU time of one decode with a sampled token at each position: ${costs.join(", ")}\n`);
    if (draftNote) process.stdout.write(`${draftNote}\n`);
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
  await setup.draft?.dispose();
  await model.dispose();
  await llama.dispose();
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:speculative failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
