// bench:stream — perplexity of the StreamingLLM engine against the other cache policies, same cache.
//
//   npm run bench:stream -- --model <gguf> --text <file> --tokens N --context C --sinks M
//        [--modes sinks,window,recompute,dense] [--recompute-every E] [--shift 0] [--threads 2] [--json]
//
// Perplexity over the first N tokens of the text (BOS first), every policy with the same cache size C:
//   sinks      the engine: M sink tokens + rolling window, evicted after the sinks, shifted in place;
//   window     the same engine with 0 sinks, evicting from cell 0 in place (plain window attention);
//   recompute  sliding window with re-computation: for each scored token t, a fresh cache of the last
//              C-1 tokens before it (O(N·C)). --recompute-every E scores only every E-th token
//              (t = 1, 1+E, 1+2E, ...); its ms/token is measured over exactly those, and "pplSubset" gives
//              every policy's perplexity over the same subset so they compare like for like;
//              With --recompute-bos the fresh cache is BOS + the last C-2 tokens (models trained with BOS
//              at the start of every window, like tinycoder, expect it); the JSON says which was measured;
//   dense      no eviction: only the first C-1 tokens (it cannot go further).
// Prints a table and, with --json, one JSON object as the last stdout line:
// {"model","tokens","contextSize","sinks","ppl":{"sinks","window","recompute","dense"},
//  "msPerToken":{"sinks","recompute"},"kvCellsMax","sinksIntact","shifts", ...extra fields}
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { LlamaContext, LlamaModel, Token } from "node-llama-cpp";
import { shiftCapabilityOfModel } from "../server/kv/shiftCapability";
import { StreamingSequence } from "../server/kv/streamingSequence";
import { ingestScored } from "./scoring";
import { flag, int, machine, parseArgs, round, str, table } from "./cli";

type Mode = "sinks" | "window" | "recompute" | "dense";
const allModes: readonly Mode[] = ["sinks", "window", "recompute", "dense"];

interface ModeResult {
  /** log p of stream[t] for t = 1..scored (index t-1); NaN where not scored. */
  logProbs: Float64Array;
  scored: number;
  ms: number;
  shifts: number;
  kvCellsMax: number;
  sinksIntact?: boolean;
}

function ppl(logProbs: Float64Array, positions?: readonly number[]): number {
  let sum = 0;
  let n = 0;
  const at = positions ?? Array.from({ length: logProbs.length }, (_, i) => i + 1);
  for (const t of at) {
    const v = logProbs[t - 1];
    if (v == null || Number.isNaN(v)) continue;
    sum += v;
    n++;
  }
  return n > 0 ? Math.exp(-sum / n) : NaN;
}

async function streamMode(
  context: LlamaContext,
  model: LlamaModel,
  stream: readonly Token[],
  sinks: number,
  shiftSize: number,
  label: Mode,
): Promise<ModeResult> {
  const engine = await StreamingSequence.create(context, {
    sinks,
    shiftSize,
    capability: shiftCapabilityOfModel(model),
    label: `bench:stream ${label}`,
    zeroSinkInPlace: sinks === 0,
  });
  try {
    const t0 = performance.now();
    const result = await ingestScored(engine, stream, { score: true });
    const ms = performance.now() - t0;
    const stats = engine.stats();
    // Intact: the sink cells are the stream's first tokens, the window is exactly the stream's tail.
    const cached = engine.cachedTokens;
    const expected = [...stream.slice(0, stats.sinks), ...stream.slice(stream.length - stats.windowTokens)];
    const sinksIntact = cached.length === expected.length && cached.every((t, i) => t === expected[i]);
    if (stats.mode !== "shift") throw new Error(`${label}: engine ran in "${stats.mode}" mode (${stats.reason}).`);
    return {
      logProbs: result.logProbs!,
      scored: result.logProbs!.length,
      ms,
      shifts: stats.shifts,
      kvCellsMax: stats.kvCellsPeak ?? stats.kvCells,
      sinksIntact,
    };
  } finally {
    await engine.dispose();
  }
}

async function denseMode(context: LlamaContext, model: LlamaModel, stream: readonly Token[]): Promise<ModeResult> {
  const engine = await StreamingSequence.create(context, {
    sinks: 0,
    capability: shiftCapabilityOfModel(model),
    label: "bench:stream dense",
  });
  try {
    const capacity = context.contextSize - 1;
    const head = stream.slice(0, Math.min(stream.length, capacity));
    const t0 = performance.now();
    const result = await ingestScored(engine, head, { score: true });
    const ms = performance.now() - t0;
    const logProbs = new Float64Array(stream.length - 1).fill(NaN);
    logProbs.set(result.logProbs!);
    const stats = engine.stats();
    if (stats.tokensEvicted !== 0) throw new Error("dense: evicted tokens");
    return { logProbs, scored: result.logProbs!.length, ms, shifts: 0, kvCellsMax: stats.kvCellsPeak ?? stats.kvCells };
  } finally {
    await engine.dispose();
  }
}

async function recomputeMode(
  context: LlamaContext,
  model: LlamaModel,
  stream: readonly Token[],
  positions: readonly number[],
  withBos: boolean,
): Promise<ModeResult> {
  const engine = await StreamingSequence.create(context, {
    sinks: 0,
    capability: shiftCapabilityOfModel(model),
    label: "bench:stream recompute",
  });
  try {
    const capacity = context.contextSize - 1;
    const logProbs = new Float64Array(stream.length - 1).fill(NaN);
    let kvCellsMax = 0;
    let lastReport = performance.now();
    const t0 = performance.now();
    for (let k = 0; k < positions.length; k++) {
      const t = positions[k]!;
      const bos = stream[0]!;
      const windowTokens =
        withBos && t > capacity ? [bos, ...stream.slice(t - capacity + 1, t)] : stream.slice(Math.max(0, t - capacity), t);
      await engine.syncTo([]); // a fresh cache for every scored token
      const result = await ingestScored(engine, windowTokens, { nextDistribution: true });
      logProbs[t - 1] = result.nextLogProbs!.get(stream[t]!) ?? -Infinity;
      kvCellsMax = Math.max(kvCellsMax, engine.stats().kvCellsPeak ?? 0);
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        process.stderr.write(`bench:stream recompute ${k + 1}/${positions.length}\n`);
      }
    }
    const ms = performance.now() - t0;
    return { logProbs, scored: positions.length, ms, shifts: 0, kvCellsMax };
  } finally {
    await engine.dispose();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(str(args, "model"));
  const textPath = path.resolve(str(args, "text"));
  const tokensWanted = int(args, "tokens", 20_000);
  const contextRequested = int(args, "context", 512);
  const sinks = int(args, "sinks", 4);
  const shiftSize = int(args, "shift", 0);
  const threads = int(args, "threads", 2);
  const every = Math.max(1, int(args, "recompute-every", 1));
  const json = flag(args, "json");
  const recomputeBos = flag(args, "recompute-bos");
  const modes = str(args, "modes", allModes.join(","))
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "") as Mode[];
  for (const m of modes) if (!allModes.includes(m)) throw new Error(`Unknown mode "${m}" (modes: ${allModes.join(", ")}).`);
  if (!existsSync(modelPath)) throw new Error(`Model not found: ${modelPath}`);
  if (!existsSync(textPath)) throw new Error(`Text not found: ${textPath} (build one with: npx tsx bench/corpus.ts)`);
  if (sinks < 1 && modes.includes("sinks")) throw new Error("--sinks must be at least 1 (the window mode is the 0-sink baseline).");

  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: contextRequested, threads });
  const text = await readFile(textPath, "utf8");
  const bos = model.tokens.bos;
  const textTokens = model.tokenize(text);
  const stream: Token[] = [...(bos != null ? [bos] : []), ...textTokens].slice(0, tokensWanted + 1);
  if (stream.length < tokensWanted + 1) {
    throw new Error(`${textPath} has only ${stream.length - 1} tokens; --tokens ${tokensWanted} needs more text.`);
  }
  const positions: number[] = [];
  for (let t = 1; t <= tokensWanted; t += every) positions.push(t);

  const results: Partial<Record<Mode, ModeResult>> = {};
  for (const mode of modes) {
    process.stderr.write(`bench:stream ${mode}…\n`);
    if (mode === "sinks") results.sinks = await streamMode(context, model, stream, sinks, shiftSize, "sinks");
    else if (mode === "window") results.window = await streamMode(context, model, stream, 0, shiftSize, "window");
    else if (mode === "dense") results.dense = await denseMode(context, model, stream);
    else results.recompute = await recomputeMode(context, model, stream, positions, recomputeBos && bos != null);
  }
  const pplOf = (m: Mode) => (results[m] ? round(ppl(results[m]!.logProbs), 4) : null);
  const subsetOf = (m: Mode) => (results[m] && m !== "dense" ? round(ppl(results[m]!.logProbs, positions), 4) : null);
  const msOf = (m: Mode) => (results[m] ? round(results[m]!.ms / results[m]!.scored, 4) : null);
  const out = {
    model: path.basename(modelPath),
    tokens: tokensWanted,
    contextSize: context.contextSize,
    sinks,
    ppl: { sinks: pplOf("sinks"), window: pplOf("window"), recompute: pplOf("recompute"), dense: pplOf("dense") },
    msPerToken: { sinks: msOf("sinks"), recompute: msOf("recompute") },
    kvCellsMax: results.sinks?.kvCellsMax ?? null,
    sinksIntact: results.sinks?.sinksIntact ?? null,
    shifts: results.sinks?.shifts ?? null,
    // What each figure was measured over (tokens scored), so nothing is extrapolated silently.
    scored: Object.fromEntries(modes.map((m) => [m, results[m]!.scored])),
    recomputeEvery: every,
    recomputeWindow: recomputeBos && bos != null ? "BOS + last C-2 tokens" : "last C-1 tokens",
    pplSubset: { sinks: subsetOf("sinks"), window: subsetOf("window"), recompute: subsetOf("recompute") },
    msPerTokenWindow: msOf("window"),
    windowShifts: results.window?.shifts ?? null,
    windowIntact: results.window?.sinksIntact ?? null,
    speedupSinksVsRecompute:
      results.sinks && results.recompute ? round(msOf("recompute")! / msOf("sinks")!, 1) : null,
    shiftSize: shiftSize || "auto",
    threads,
    text: path.basename(textPath),
    machine: machine(),
    date: new Date().toISOString(),
  };
  await context.dispose();
  await model.dispose();

  console.log(
    `bench:stream — ${out.model}, ${out.tokens} tokens of ${out.text}, cache ${out.contextSize}, ${sinks} sinks, shift ${out.shiftSize}, ${threads} threads`,
  );
  const row = (m: Mode, name: string) => [
    name,
    results[m] ? results[m]!.scored : "-",
    pplOf(m) ?? "-",
    subsetOf(m) ?? "-",
    msOf(m) ?? "-",
    m === "sinks" || m === "window" ? results[m]?.shifts ?? "-" : "-",
  ];
  console.log(
    table(
      ["policy", "tokens scored", "PPL", `PPL on recompute subset (every ${every})`, "ms/token", "shifts"],
      modes.map((m) =>
        row(
          m,
          {
            sinks: `sinks (${sinks} + window)`,
            window: "window (0 sinks)",
            recompute: recomputeBos ? "recompute (BOS + sliding window)" : "recompute (sliding window)",
            dense: "dense (first C-1 only)",
          }[m],
        ),
      ),
    ),
  );
  const notes: string[] = [];
  if (out.ppl.sinks != null && out.ppl.recompute != null) {
    notes.push(`PPL(sinks)/PPL(recompute) on the same subset: ${round(out.pplSubset.sinks! / out.pplSubset.recompute!, 4)}`);
  }
  if (out.ppl.sinks != null && out.ppl.window != null) notes.push(`PPL(window)/PPL(sinks): ${round(out.ppl.window / out.ppl.sinks, 4)}`);
  if (out.speedupSinksVsRecompute != null) notes.push(`sinks faster than recompute: ${out.speedupSinksVsRecompute}×`);
  if (out.kvCellsMax != null) notes.push(`KV cells max ${out.kvCellsMax} / context ${out.contextSize}; sinks intact: ${out.sinksIntact}`);
  for (const n of notes) console.log(n);
  if (json) console.log(JSON.stringify(out));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
