// Decode speed on this machine's CPU against llama.cpp itself (same commit, same model file, same
// threads, same sampling): the CPU twin of the GPU pipeline's speed + anchor benches.
//
//   npm run bench:speed -- [--model ../shared/models/tinycoder-16m-q8_0.gguf] [--threads 1]
//        [--prompt 256] [--decode 128] [--reps 3] [--text server/kv/streamingSequence.ts] [--json]
//
// llama.cpp = `llama-completion` (built once from node-llama-cpp's bundled source by
// scripts/llamaTools.mjs, cached in .tools/llama/<commit>) generating with the same sampling; its
// rate is the wall clock of its streamed text (decode + sampling), the fair peer of the engine's
// per-token wall time. Its own decode-only "eval time" and `llama-bench` tg are printed beside it.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureLlamaTools } from "../scripts/llamaTools.mjs";
import { shiftCapabilityOfModel } from "../server/kv/shiftCapability";
import { flag, int, machine, parseArgs, round, str, table } from "./cli";
import { corpusTokens, median } from "./gpu/common";
import { bareRun, defaultSampling, engineRun, rates, splitPerToken, splitRun, type Run } from "./gpu/speedRuns";

const samplingFlags = ["--temp", "0.8", "--top-k", "40", "--top-p", "0.95", "--min-p", "0", "--seed", "42"];

interface LlamaCppRun {
  streamTokPerS: number;
  decodeOnlyTokPerS: number;
  samplingMsPerToken: number;
  promptTokens: number;
}

/** One llama-completion run: its streamed text timed over the last 90 % of the bytes (tokens in proportion). */
function llamaCompletion(bin: string, args: readonly string[], timeoutMs: number): Promise<LlamaCppRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    const stamps: [number, number][] = [];
    let bytes = 0;
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      stamps.push([performance.now(), bytes]);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-20_000);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const evalLine = /\beval time =\s*([\d.]+) ms \/\s*(\d+) runs/.exec(stderr);
      const promptLine = /prompt eval time =\s*[\d.]+ ms \/\s*(\d+) tokens/.exec(stderr);
      const samplingLine = /sampling time =\s*([\d.]+) ms/.exec(stderr);
      const start = stamps.find(([, b]) => b >= 0.1 * bytes);
      const end = stamps[stamps.length - 1];
      if (code !== 0 || !evalLine || !start || !end || end[0] <= start[0]) {
        reject(new Error(`llama-completion exit ${code}: ${stderr.slice(-600)}`));
        return;
      }
      const runs = Number(evalLine[2]);
      resolve({
        streamTokPerS: ((runs * (bytes - start[1])) / bytes / (end[0] - start[0])) * 1000,
        decodeOnlyTokPerS: (runs / Number(evalLine[1])) * 1000,
        samplingMsPerToken: samplingLine ? Number(samplingLine[1]) / (runs + 1) : Number.NaN,
        promptTokens: promptLine ? Number(promptLine[1]) : 0,
      });
    });
  });
}

function llamaBench(bin: string, model: string, threads: number, prompt: number, decode: number, reps: number): number {
  const r = spawnSync(bin, ["-m", model, "-t", String(threads), "-ngl", "0", "-p", "0", "-n", String(decode), "-d", String(prompt), "-r", String(reps), "-o", "json"], {
    encoding: "utf8",
    timeout: 600_000,
    maxBuffer: 16 << 20,
  });
  if (r.status !== 0) throw new Error(`llama-bench exit ${r.status}: ${(r.stderr ?? "").slice(-600)}`);
  const rows = JSON.parse(r.stdout) as { n_gen: number; avg_ts: number }[];
  return rows.find((row) => row.n_gen > 0)?.avg_ts ?? Number.NaN;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(str(args, "model", "../shared/models/tinycoder-16m-q8_0.gguf"));
  const textPath = path.resolve(str(args, "text", "server/kv/streamingSequence.ts"));
  const threads = int(args, "threads", 1);
  const promptLength = int(args, "prompt", 256);
  const decode = int(args, "decode", 128);
  const reps = Math.max(1, int(args, "reps", 3));
  const json = flag(args, "json");

  const tools = ensureLlamaTools({ targets: ["llama-bench", "llama-completion"] });
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: promptLength + decode + 64, sequences: 1, threads });
  const text = await corpusTokens(model, textPath);
  const bos = model.tokens.bos;
  const prompt = [...(bos != null ? [bos] : []), ...text.slice(0, promptLength - (bos != null ? 1 : 0))];
  const capability = shiftCapabilityOfModel(model);

  await bareRun(context, prompt.slice(0, 32), 8);
  await engineRun(context, prompt.slice(0, 32), 8, { sinks: 4, capability });
  const bare: Run[] = [];
  const engine: Run[] = [];
  for (let r = 0; r < reps; r++) {
    bare.push(await bareRun(context, prompt, decode));
    engine.push(await engineRun(context, prompt, decode, { sinks: 4, capability }));
  }
  const split = splitPerToken(await splitRun(context, prompt, decode));
  const promptText = model.detokenize(prompt.slice(bos != null ? 1 : 0));
  await context.dispose();
  await model.dispose();

  const dir = mkdtempSync(path.join(os.tmpdir(), "streamsink-speed-"));
  const llamaRuns: LlamaCppRun[] = [];
  let tgDecodeOnly = Number.NaN;
  try {
    const promptFile = path.join(dir, "prompt.txt");
    writeFileSync(promptFile, promptText);
    const completionArgs = ["-m", modelPath, "-t", String(threads), "-ngl", "0", "-c", String(promptLength + decode + 64), "-f", promptFile,
      "-n", String(decode), "--ignore-eos", "-no-cnv", "--no-display-prompt", ...samplingFlags];
    await llamaCompletion(tools["llama-completion"], completionArgs, 300_000); // warm-up (page cache)
    for (let r = 0; r < reps; r++) llamaRuns.push(await llamaCompletion(tools["llama-completion"], completionArgs, 300_000));
    tgDecodeOnly = llamaBench(tools["llama-bench"], modelPath, threads, promptLength, decode, reps);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const b = rates(bare);
  const e = rates(engine);
  const llamaCpp = median(llamaRuns.map((r) => r.streamTokPerS));
  const result = {
    bench: "speed",
    model: path.basename(modelPath),
    threads,
    promptTokens: prompt.length,
    decodeTokensRequested: decode,
    sampling: defaultSampling,
    reps,
    llamaCppCommit: tools.commit,
    decodeTokPerS: {
      engine: e.decodeTokensPerSecond,
      bare: b.decodeTokensPerSecond,
      llamaCpp: round(llamaCpp, 1),
      llamaCppDecodeOnly: round(median(llamaRuns.map((r) => r.decodeOnlyTokPerS)), 1),
      llamaBench: round(tgDecodeOnly, 1),
    },
    ratio: {
      engineToLlamaCpp: round(e.decodeTokensPerSecond / llamaCpp, 4),
      bareToLlamaCpp: round(b.decodeTokensPerSecond / llamaCpp, 4),
      engineToBare: round(e.decodeTokensPerSecond / b.decodeTokensPerSecond, 4),
    },
    perTokenMs: {
      engine: e.decodeMsPerToken,
      split,
      llamaCppSampling: round(median(llamaRuns.map((r) => r.samplingMsPerToken)), 4),
    },
    generatedTokens: { bare: b.decodeTokens, engine: e.decodeTokens, llamaCppPromptTokens: llamaRuns[0]?.promptTokens ?? 0 },
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.log(`speed — ${result.model}, CPU, ${threads} thread(s), prompt ${prompt.length}, decode ${decode}, ${reps} reps (median); llama.cpp ${tools.commit}`);
  console.log(
    table(
      ["path", "decode tok/s", "ms/token", "÷ llama.cpp"],
      [
        ["llama.cpp llama-completion (streamed, same sampling)", result.decodeTokPerS.llamaCpp, round(1000 / llamaCpp, 4), 1],
        ["llama.cpp llama-completion eval time (decode only)", result.decodeTokPerS.llamaCppDecodeOnly, "", ""],
        ["llama.cpp llama-bench tg (decode only)", result.decodeTokPerS.llamaBench, "", ""],
        ["node-llama-cpp bare loop", b.decodeTokensPerSecond, b.decodeMsPerToken, result.ratio.bareToLlamaCpp],
        ["StreamSink engine", e.decodeTokensPerSecond, e.decodeMsPerToken, result.ratio.engineToLlamaCpp],
      ],
    ),
  );
  console.log(
    `one bare token: ${split.wallMsPerToken} ms = decodeBatch ${split.decodeMsPerToken} + sampleToken ${split.sampleMsPerToken} + JS and hops ${split.jsAndHopsMsPerToken}; ` +
      `llama.cpp's sampling ${result.perTokenMs.llamaCppSampling} ms/token`,
  );
  if (json) console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
