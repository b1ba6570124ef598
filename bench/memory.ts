// bench:memory — streams N tokens (millions) through the StreamingLLM engine and shows that the
// cache, the memory and the per-token cost stay flat.
//
//   npm run bench:memory -- --model <gguf> --tokens N --context C [--sinks 4] [--shift 0]
//        [--text <file>] [--text-tokens L] [--threads 2] [--block 1000] [--gpu] [--ppl-window W] [--json]
// --ppl-window W also scores the first and the last W tokens ("ppl": {first, last, ratioLastToFirst}).
// --text-tokens L repeats only the text's first L tokens, so that N = 1 + m·L + W can be chosen
// close to a target length (the last W tokens are then the same text as the first W).
//
// The text (default bench-results/corpus-py311.py, built by bench/corpus.ts) is tokenized once and
// repeated as needed (BOS first). Tokens are ingested in blocks of --block tokens, each timed.
// Prints a table and, with --json, one JSON object as the last stdout line:
// {"tokens","kvCellsMax","contextSize","rssMB":{"start","after10k","end"},"msPerToken":{"first10k","last10k"},
//  "shifts","shiftMs":{"p50","max"}, ...extra fields}
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Token } from "node-llama-cpp";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { shiftCapabilityOfModel } from "../server/kv/shiftCapability";
import { StreamingSequence } from "../server/kv/streamingSequence";
import { ingestScored } from "./scoring";
import { flag, int, machine, parseArgs, percentile, rerunWithServerEnvironment, round, str, table } from "./cli";
import { maxOf } from "../common/arrays";

const MB = 2 ** 20;

// A full GC before every RSS sample, so garbage (e.g. from tokenizing the text) does not read as growth.
setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;
const rssMB = (): number => {
  collect();
  return process.memoryUsage().rss / MB;
};

async function main(): Promise<void> {
  if (rerunWithServerEnvironment()) return;
  const args = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(str(args, "model"));
  const tokensWanted = int(args, "tokens", 1_000_000);
  const contextRequested = int(args, "context", 2048);
  const sinks = int(args, "sinks", 4);
  const shiftSize = int(args, "shift", 0);
  const threads = int(args, "threads", 2);
  const block = Math.max(1, int(args, "block", 1000));
  const textPath = path.resolve(str(args, "text", "bench-results/corpus-py311.py"));
  const useGpu = flag(args, "gpu");
  const json = flag(args, "json");
  // --ppl-window W: also score the first W and the last W tokens of the stream (perplexity stability).
  const pplWindow = int(args, "ppl-window", 0);
  const nll = { first: 0, firstCount: 0, last: 0, lastCount: 0 };
  if (!existsSync(modelPath)) throw new Error(`Model not found: ${modelPath}`);
  if (!existsSync(textPath)) throw new Error(`Text not found: ${textPath} (build it with: npx tsx bench/corpus.ts)`);

  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: useGpu ? "auto" : false });
  const model = await llama.loadModel({ modelPath });
  const capability = shiftCapabilityOfModel(model);
  const context = await model.createContext({ contextSize: contextRequested, threads });
  const shiftDurations: number[] = [];
  const engine = await StreamingSequence.create(context, {
    sinks,
    shiftSize,
    capability,
    label: "bench:memory",
    onShift: (event) => shiftDurations.push(event.ms),
  });

  const text = await readFile(textPath, "utf8");
  const textTokensWanted = int(args, "text-tokens", 0);
  const allTextTokens = model.tokenize(text);
  if (textTokensWanted > allTextTokens.length) {
    throw new Error(`--text-tokens ${textTokensWanted}: ${textPath} has only ${allTextTokens.length} tokens.`);
  }
  const textTokens = textTokensWanted > 0 ? allTextTokens.slice(0, textTokensWanted) : allTextTokens;
  if (textTokens.length === 0) throw new Error(`${textPath} has no tokens.`);
  const bos = model.tokens.bos;
  const tokenAt = (i: number): Token => {
    if (bos != null) return i === 0 ? bos : textTokens[(i - 1) % textTokens.length]!;
    return textTokens[i % textTokens.length]!;
  };
  const firstTokens: Token[] = Array.from({ length: Math.min(engine.sinks, tokensWanted) }, (_, i) => tokenAt(i));

  const vram = async () => (useGpu && llama.gpu !== false ? (await llama.getVramState()).used / MB : undefined);
  const rssStart = rssMB();
  const vramStart = await vram();
  let rssAfter10k = rssStart;
  let sampled10k = false;
  let vramAfter10k = vramStart;
  const blockMs: number[] = [];
  const blockCpuMs: number[] = [];
  const blockLen: number[] = [];
  const blockStart: number[] = [];
  const chunk: Token[] = new Array<Token>(block);
  const started = performance.now();
  let streamed = 0;
  let kvCellsMax = 0;
  let nextReport = 100_000;
  while (streamed < tokensWanted) {
    const n = Math.min(block, tokensWanted - streamed);
    chunk.length = n;
    for (let j = 0; j < n; j++) chunk[j] = tokenAt(streamed + j);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const scored = pplWindow > 0 && (streamed < pplWindow || streamed + n > tokensWanted - pplWindow);
    const ingested = await ingestScored(engine, chunk as Parameters<typeof engine.ingest>[0], { score: scored });
    // logProbs[j] = log p(token streamed + j + 1 | everything before it)
    for (let j = 0; j < (ingested.logProbs?.length ?? 0); j++) {
      const target = streamed + j + 1;
      if (target < pplWindow) (nll.first -= ingested.logProbs![j]!), nll.firstCount++;
      else if (target >= tokensWanted - pplWindow) (nll.last -= ingested.logProbs![j]!), nll.lastCount++;
    }
    blockMs.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    blockCpuMs.push((cpu.user + cpu.system) / 1000);
    blockLen.push(n);
    blockStart.push(streamed);
    streamed += n;
    const s = engine.stats();
    if ((s.kvCellsPeak ?? 0) > kvCellsMax) kvCellsMax = s.kvCellsPeak ?? 0;
    if (s.kvCells >= s.contextSize) throw new Error(`KV cells ${s.kvCells} reached the context size ${s.contextSize}.`);
    if (streamed >= 10_000 && !sampled10k) {
      sampled10k = true;
      rssAfter10k = rssMB();
      vramAfter10k = await vram();
    }
    if (streamed >= nextReport) {
      nextReport += 100_000;
      const elapsed = (performance.now() - started) / 1000;
      process.stderr.write(
        `bench:memory ${streamed} tokens, ${round(elapsed, 1)} s, rss ${round(process.memoryUsage().rss / MB, 1)} MB, shifts ${s.shifts}\n`,
      );
    }
  }
  const wallS = (performance.now() - started) / 1000;
  const rssEnd = rssMB();
  const vramEnd = await vram();
  const stats = engine.stats();
  const sinksIntact = firstTokens.every((t, i) => stats.sinkTokens[i] === t);

  // ms/token over the first and the last 10K tokens (whole blocks covering them). The first 10K
  // include filling the cache (no shift yet, shorter attention), so "steady" also measures the first
  // 10K after the cache is full; and CPU ms/token (process CPU time) is reported next to wall time,
  // because on a shared machine other processes stretch wall time but not this process's CPU time.
  const window = Math.min(10_000, streamed);
  const avg = (times: number[], from: "start" | "end", startAt = 0) => {
    let tokens = 0;
    let ms = 0;
    const first = blockStart.findIndex((start) => start >= startAt);
    if (first < 0) return 0;
    for (let k = 0; k < blockMs.length && tokens < window; k++) {
      const i = from === "start" ? first + k : blockMs.length - 1 - k;
      if (i >= blockMs.length) break;
      tokens += blockLen[i]!;
      ms += times[i]!;
    }
    return tokens > 0 ? ms / tokens : 0;
  };
  const first10k = avg(blockMs, "start");
  const last10k = avg(blockMs, "end");
  const steadyFrom = context.contextSize;
  const steadyFirst10k = avg(blockMs, "start", steadyFrom);
  const cpuFirst10k = avg(blockCpuMs, "start");
  const cpuLast10k = avg(blockCpuMs, "end");
  const cpuSteadyFirst10k = avg(blockCpuMs, "start", steadyFrom);

  const result = {
    model: path.basename(modelPath),
    tokens: streamed,
    kvCellsMax,
    contextSize: context.contextSize,
    rssMB: { start: round(rssStart, 1), after10k: round(rssAfter10k, 1), end: round(rssEnd, 1) },
    msPerToken: { first10k: round(first10k, 4), last10k: round(last10k, 4) },
    shifts: stats.shifts,
    shiftMs: { p50: round(percentile(shiftDurations, 50), 4), max: round(Math.max(0, maxOf(shiftDurations)), 4) },
    ...(vramStart != null
      ? { vramMB: { start: round(vramStart, 1), after10k: round(vramAfter10k ?? 0, 1), end: round(vramEnd ?? 0, 1) } }
      : {}),
    sinks: stats.sinks,
    sinksIntact,
    ...(pplWindow > 0
      ? {
          ppl: {
            window: pplWindow,
            first: round(Math.exp(nll.first / nll.firstCount), 4),
            last: round(Math.exp(nll.last / nll.lastCount), 4),
            ratioLastToFirst: round(Math.exp(nll.last / nll.lastCount - nll.first / nll.firstCount), 4),
            scoredFirst: nll.firstCount,
            scoredLast: nll.lastCount,
          },
        }
      : {}),
    mode: stats.mode,
    tokensEvicted: stats.tokensEvicted,
    rssGrowthFrom10kPct: round(((rssEnd - rssAfter10k) / rssAfter10k) * 100, 3),
    msPerTokenRatioLastToFirst: round(last10k / first10k, 4),
    // The same, from the first 10K after the cache filled (tokens steadyFrom… on), wall and CPU time.
    steady: {
      from: steadyFrom,
      msPerToken: { first10k: round(steadyFirst10k, 4), last10k: round(last10k, 4) },
      ratioLastToFirst: round(last10k / steadyFirst10k, 4),
      cpuMsPerToken: { first10k: round(cpuSteadyFirst10k, 4), last10k: round(cpuLast10k, 4) },
      cpuRatioLastToFirst: round(cpuLast10k / cpuSteadyFirst10k, 4),
    },
    cpuMsPerToken: { first10k: round(cpuFirst10k, 4), last10k: round(cpuLast10k, 4) },
    shiftSize: shiftSize || "auto",
    block,
    threads,
    backend: llama.gpu === false ? "cpu" : llama.gpu,
    wallSeconds: round(wallS, 1),
    text: path.basename(textPath),
    textTokens: textTokens.length,
    malloc: { arenaMax: process.env.MALLOC_ARENA_MAX ?? null, mmapThreshold: process.env.MALLOC_MMAP_THRESHOLD_ ?? null },
    machine: machine(),
    date: new Date().toISOString(),
  };
  await engine.dispose();
  await context.dispose();
  await model.dispose();

  console.log(`bench:memory — ${result.model}, ${result.tokens} tokens, context ${result.contextSize}, ${result.sinks} sinks, ${result.backend}, ${threads} threads`);
  console.log(
    table(
      ["measure", "value"],
      [
        ["KV cells max / context", `${result.kvCellsMax} / ${result.contextSize}`],
        ["RSS MB start / after 10K / end", `${result.rssMB.start} / ${result.rssMB.after10k} / ${result.rssMB.end}`],
        ["RSS growth 10K → end", `${result.rssGrowthFrom10kPct} %`],
        ["ms/token first 10K / last 10K", `${result.msPerToken.first10k} / ${result.msPerToken.last10k}`],
        ["ratio last/first", result.msPerTokenRatioLastToFirst],
        [`ms/token first 10K after the cache filled (from ${steadyFrom}) / last 10K`, `${result.steady.msPerToken.first10k} / ${result.steady.msPerToken.last10k} (ratio ${result.steady.ratioLastToFirst})`],
        ["CPU ms/token first 10K / last 10K", `${result.cpuMsPerToken.first10k} / ${result.cpuMsPerToken.last10k}`],
        ["CPU ms/token after fill: first 10K / last 10K", `${result.steady.cpuMsPerToken.first10k} / ${result.steady.cpuMsPerToken.last10k} (ratio ${result.steady.cpuRatioLastToFirst})`],
        ["shifts (evicted tokens)", `${result.shifts} (${result.tokensEvicted})`],
        ["shift ms p50 / max", `${result.shiftMs.p50} / ${result.shiftMs.max}`],
        ["sinks intact", String(sinksIntact)],
        ...(result.ppl ? [["PPL first / last window (ratio)", `${result.ppl.first} / ${result.ppl.last} (${result.ppl.ratioLastToFirst})`]] : []),
        ...(result.vramMB ? [["VRAM MB start / after 10K / end", `${result.vramMB.start} / ${result.vramMB.after10k} / ${result.vramMB.end}`]] : []),
        ["wall", `${result.wallSeconds} s`],
      ],
    ),
  );
  if (json) console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
