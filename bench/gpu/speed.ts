// GPU speed: prompt and decode tokens/s through the product's engine (StreamingSequence) against
// node-llama-cpp's bare evaluation loop on the same model and context, and against the
// memory-bandwidth bound of decoding (weights + KV bytes read per token / measured bandwidth).
//
//   node .gpu/bench/speed.mjs --model <gguf> --text <file> [--context 4096] [--prompt 2048]
//        [--decode 256] [--reps 3] [--threads 4] [--sinks 4] [--bandwidth-gbs <copy GB/s>]
//        [--read-bandwidth-gbs <GB/s>] [--tflops <matmul TFLOP/s>] [--label name] [--json]
//
// Runs alternate (bare, engine, bare, engine, ...) on one context; medians are reported. Sampling
// is the same for both (temperature 0.8, top-k 40, seed 42); both stop at an end-of-generation token.
import path from "node:path";
import { shiftCapabilityOfModel } from "../../server/kv/shiftCapability";
import type { StreamingSequence } from "../../server/kv/streamingSequence";
import { corpusTokens, flag, gpuLlama, int, modelShape, num, parseArgs, printJson, round, str, table } from "./common";
import { bareRun, defaultSampling, engineRun, rates, splitPerToken, splitRun, type Run, type Sampling } from "./speedRuns";

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(str(args, "model"));
  const textPath = path.resolve(str(args, "text"));
  const contextSize = int(args, "context", 4096);
  const promptLength = int(args, "prompt", 2048);
  const decode = int(args, "decode", 256);
  const reps = Math.max(1, int(args, "reps", 3));
  const threads = int(args, "threads", 4);
  const sinks = int(args, "sinks", 4);
  const bandwidthGBs = num(args, "bandwidth-gbs", 0);
  const readBandwidthGBs = num(args, "read-bandwidth-gbs", 0);
  const tflops = num(args, "tflops", 0);
  const label = str(args, "label", path.basename(modelPath));
  const json = flag(args, "json");
  // --temperature 0: greedy (no top-k/top-p) to see the sampler's share of a decode step.
  const temperature = num(args, "temperature", 0.8);
  const sampling: Sampling = temperature === 0 ? { temperature: 0 } : defaultSampling;
  // --flash true|false|auto (default: node-llama-cpp's default, "auto").
  const flashArg = str(args, "flash", "auto");
  const flashAttention = flashArg === "auto" ? undefined : flashArg === "true";

  // --spin: keep the event loop turning (a setImmediate chain) for the whole run, so that the main
  // thread never sleeps in epoll between a native call finishing and its promise resolving: an
  // experiment on how much of a token's time is thread wake-up latency. Burns one core.
  if (flag(args, "spin")) {
    const spin = (): void => void setImmediate(spin);
    spin();
  }
  const llama = await gpuLlama();
  const loadStart = performance.now();
  const model = await llama.loadModel({ modelPath });
  const loadMs = performance.now() - loadStart;
  const capability = shiftCapabilityOfModel(model);
  const shape = modelShape(model);
  const context = await model.createContext({ contextSize, sequences: 1, threads, ...(flashAttention != null ? { flashAttention } : {}) });
  const text = await corpusTokens(model, textPath);
  const bos = model.tokens.bos;
  const prompt = [...(bos != null ? [bos] : []), ...text.slice(0, promptLength - (bos != null ? 1 : 0))];
  if (prompt.length + decode >= context.contextSize) throw new Error("--prompt + --decode must fit in the context.");

  // Warm-up (CUDA graphs, kernels, allocations) on both paths, not counted.
  await bareRun(context, prompt.slice(0, 64), 8, sampling);
  await engineRun(context, prompt.slice(0, 64), 8, { sinks, capability }, sampling);

  const bare: Run[] = [];
  const engine: Run[] = [];
  let lastStats: ReturnType<StreamingSequence["stats"]> | undefined;
  for (let r = 0; r < reps; r++) {
    bare.push(await bareRun(context, prompt, decode, sampling));
    const e = await engineRun(context, prompt, decode, { sinks, capability }, sampling);
    engine.push(e);
    lastStats = e.engineStats;
  }
  // One more bare run with timers around the native calls (not in the medians above: the timers
  // themselves cost a little).
  const split = splitPerToken(await splitRun(context, prompt, decode, sampling));
  const b = rates(bare);
  const e = rates(engine);
  // Bandwidth bound of one decode step at the average cached length during decoding.
  const avgPositions = prompt.length + decode / 2;
  const bytesPerToken = shape.weightBytesPerToken + shape.kvBytesPerPosition * avgPositions;
  const boundTokS = (gbs: number) => (gbs > 0 ? (gbs * 1e9) / bytesPerToken : 0);
  const bound = boundTokS(bandwidthGBs);
  const readBound = boundTokS(readBandwidthGBs);
  const promptFlops = shape.flopsPerTokenNoAttention;
  const promptBound = tflops > 0 ? (tflops * 1e12) / promptFlops : 0;
  const deviceNames = await llama.getGpuDeviceNames();
  const vram = await llama.getVramState();

  const result = {
    bench: "gpu-speed",
    label,
    model: path.basename(modelPath),
    backend: llama.gpu,
    device: deviceNames.join(", "),
    gpuLayers: model.gpuLayers,
    modelLoadMs: round(loadMs, 1),
    shape,
    contextSize: context.contextSize,
    flashAttention: context.flashAttention,
    batchSize: context.batchSize,
    threads,
    promptLength: prompt.length,
    decodeTokensRequested: decode,
    sampling,
    cudaGraphsDisabledByEnv: process.env.GGML_CUDA_DISABLE_GRAPHS === "1",
    spin: flag(args, "spin"),
    reps,
    bare: b,
    engine: e,
    perTokenSplit: split,
    engineOverBare: {
      prompt: round(e.promptTokensPerSecond / b.promptTokensPerSecond, 4),
      decode: round(e.decodeTokensPerSecond / b.decodeTokensPerSecond, 4),
    },
    engineStats: lastStats
      ? {
          promptTokensPerSecond: round(lastStats.promptTokensPerSecond, 1),
          generationTokensPerSecond: round(lastStats.generationTokensPerSecond, 1),
          mode: lastStats.mode,
          sinks: lastStats.sinks,
        }
      : undefined,
    bandwidthBound: {
      copyBandwidthGBs: bandwidthGBs,
      readBandwidthGBs,
      bytesPerToken: Math.round(bytesPerToken),
      weightBytesPerToken: Math.round(shape.weightBytesPerToken),
      kvBytesPerToken: Math.round(shape.kvBytesPerPosition * avgPositions),
      decodeBoundTokensPerSecond: round(bound, 1),
      engineDecodeOverBound: bound > 0 ? round(e.decodeTokensPerSecond / bound, 4) : null,
      bareDecodeOverBound: bound > 0 ? round(b.decodeTokensPerSecond / bound, 4) : null,
      decodeBoundAtReadBandwidthTokensPerSecond: round(readBound, 1),
      engineDecodeOverReadBound: readBound > 0 ? round(e.decodeTokensPerSecond / readBound, 4) : null,
    },
    computeBound: {
      matmulTflops: tflops,
      flopsPerToken: promptFlops,
      promptBoundTokensPerSecond: round(promptBound, 1),
      enginePromptOverBound: promptBound > 0 ? round(e.promptTokensPerSecond / promptBound, 4) : null,
    },
    vramMB: { used: round(vram.used / 2 ** 20, 1), total: round(vram.total / 2 ** 20, 1) },
    date: new Date().toISOString(),
  };
  await context.dispose();
  await model.dispose();
  if (flag(args, "spin")) setImmediate(() => process.exit(0)); // the spinner would keep the process alive

  console.log(`gpu-speed — ${label} on ${result.device} (${result.backend}, ${result.gpuLayers} GPU layers), context ${result.contextSize}, prompt ${prompt.length}, decode ${decode}, ${reps} reps (median)`);
  console.log(
    table(
      ["path", "prompt tok/s", "decode tok/s", "decode ms/token", "first token ms"],
      [
        ["bare node-llama-cpp", b.promptTokensPerSecond, b.decodeTokensPerSecond, b.decodeMsPerToken, b.firstTokenMs],
        ["engine (StreamingSequence)", e.promptTokensPerSecond, e.decodeTokensPerSecond, e.decodeMsPerToken, e.firstTokenMs],
        ["engine / bare", result.engineOverBare.prompt, result.engineOverBare.decode, "", ""],
        ["decode bound (copy bandwidth)", "", round(bound, 1), round(1000 / bound, 4), ""],
        ["engine / bound", "", result.bandwidthBound.engineDecodeOverBound ?? "n/a", "", ""],
      ],
    ),
  );
  console.log(
    `one bare token, split (${split.tokens} tokens): wall ${split.wallMsPerToken} ms = decodeBatch ${split.decodeMsPerToken} + sampleToken ${split.sampleMsPerToken} ` +
      `+ JS and thread-pool hops ${split.jsAndHopsMsPerToken} (native calls timed from call to promise)`,
  );
  printJson(result, json);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
