// GPU: per-token cost of attention sinks + rolling window (the engine, cache full, shifting in
// place) against a sliding window with re-computation (for every token, a fresh cache of the last
// contextSize - 1 tokens is evaluated: the paper's baseline), and the cost of one context shift.
//
//   node .gpu/bench/shift.mjs --model <gguf> --text <file> [--context 4096] [--sinks 4]
//        [--shift 256] [--generate 2048] [--recompute 16] [--threads 4] [--label name] [--json]
//
// Sinks: the cache is filled to contextSize - 1 tokens of text, then --generate tokens are decoded
// through StreamingSequence.generate; every token's time is measured between yields (it includes
// the engine's eviction when one happens before it). Shift cost = the erase call (engine's
// ShiftEvent.ms) and the extra time of the token right after a shift over the median token
// (llama.cpp re-rotates the kept keys lazily inside that decode).
// Recompute: node-llama-cpp's bare sequence, cleared, evaluates the last contextSize - 1 tokens
// and samples one: --recompute samples, median.
import path from "node:path";
import type { Token } from "node-llama-cpp";
import { shiftCapabilityOfModel } from "../../server/kv/shiftCapability";
import { StreamingSequence, type ShiftEvent } from "../../server/kv/streamingSequence";
import { corpusTokens, flag, gpuLlama, int, mean, median, parseArgs, percentile, printJson, round, str, table } from "./common";
import { maxOf } from "../../common/arrays";

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(str(args, "model"));
  const textPath = path.resolve(str(args, "text"));
  const contextSize = int(args, "context", 4096);
  const sinks = int(args, "sinks", 4);
  const shiftSize = int(args, "shift", 256);
  const generate = int(args, "generate", 2048);
  const recomputeSamples = Math.max(1, int(args, "recompute", 16));
  const threads = int(args, "threads", 4);
  const label = str(args, "label", path.basename(modelPath));
  const json = flag(args, "json");

  const llama = await gpuLlama();
  const model = await llama.loadModel({ modelPath });
  const capability = shiftCapabilityOfModel(model);
  const context = await model.createContext({ contextSize, sequences: 1, threads });
  const capacity = context.contextSize - 1;
  const text = await corpusTokens(model, textPath);
  const bos = model.tokens.bos;
  const stream: Token[] = [...(bos != null ? [bos] : []), ...text.slice(0, capacity + recomputeSamples + 8)];
  if (stream.length < capacity + recomputeSamples) throw new Error("The text is too short for this context size.");

  // ---- sinks: the engine at a full cache ----
  const events: { atToken: number; event: ShiftEvent }[] = [];
  let generated = 0;
  const engine = await StreamingSequence.create(context, {
    sinks,
    shiftSize,
    capability,
    label: "bench:gpu-shift",
    onShift: (event) => events.push({ atToken: generated, event }),
  });
  await engine.ingest(stream.slice(0, capacity - 1));
  const tokenMs: number[] = [];
  let last = performance.now();
  for await (const _token of engine.generate({
    maxTokens: generate,
    input: [stream[capacity - 1]!],
    temperature: 0.8,
    topK: 40,
    seed: 42,
  })) {
    const t = performance.now();
    tokenMs.push(t - last);
    last = t;
    generated++;
  }
  const stats = engine.stats();
  const sinksIntact = stream.slice(0, stats.sinks).every((t, i) => stats.sinkTokens[i] === t);
  await engine.dispose();
  // tokenMs[0] includes the first decode after the fill; the steady state starts at token 1.
  const steady = tokenMs.slice(1);
  const shiftTokenIdx = new Set(events.filter((e) => e.atToken > 0 && e.event.trigger === "engine").map((e) => e.atToken));
  const afterShift = steady.filter((_, i) => shiftTokenIdx.has(i + 1));
  const normal = steady.filter((_, i) => !shiftTokenIdx.has(i + 1));
  const normalMedian = median(normal);
  const eraseMs = events.filter((e) => e.atToken > 0).map((e) => e.event.ms);
  const shiftExtra = afterShift.map((ms) => ms - normalMedian);
  const sinksMsPerToken = mean(steady);
  // Jitter (issue 12 item 4): inter-token latency with the shift tokens and without them, and the
  // shifts' share of the decode time (each shift token's time over the median token).
  const interTokenMs = {
    all: { p50: round(percentile(steady, 50), 4), p99: round(percentile(steady, 99), 4), max: round(maxOf(steady), 4) },
    withoutShifts: { p50: round(percentile(normal, 50), 4), p99: round(percentile(normal, 99), 4) },
  };
  const shiftOverheadMs = shiftExtra.reduce((sum, ms) => sum + Math.max(0, ms), 0);
  const amortizedShiftOverhead = round(shiftOverheadMs / steady.reduce((sum, ms) => sum + ms, 0), 5);

  // ---- recompute: fresh cache of the last `capacity` tokens for every token ----
  const sequence = context.getSequence();
  const recomputeMs: number[] = [];
  // Warm-up (one, not counted).
  for (let s = -1; s < recomputeSamples; s++) {
    const end = capacity + Math.max(0, s);
    const window = stream.slice(end - capacity, end);
    await sequence.clearHistory();
    const t0 = performance.now();
    for await (const _token of sequence.evaluate(window, { temperature: 0 })) break;
    if (s >= 0) recomputeMs.push(performance.now() - t0);
  }
  // Where the erase call's time goes: the same erase of `shiftSize` cells after the sinks on the
  // full sequence left by the last recompute sample, first through node-llama-cpp's public call,
  // then (after refilling) the two native calls it makes, timed alone (node-llama-cpp 3.22 internals).
  const diagnostics: Record<string, number | string> = {};
  try {
    const t0 = performance.now();
    await sequence.eraseContextTokenRanges([{ start: sinks, end: sinks + shiftSize }]);
    diagnostics.libraryEraseMs = round(performance.now() - t0, 4);
    await sequence.clearHistory();
    await sequence.evaluateWithoutGeneratingNewTokens(stream.slice(0, capacity));
    const s = sequence as unknown as {
      _sequenceId: number;
      _context: { _ctx: Record<string, (...a: number[]) => unknown> };
    };
    const native = s._context._ctx;
    const n = sequence.nextTokenIndex;
    const t1 = performance.now();
    native.getSequenceKvCacheMinPosition!(s._sequenceId);
    const t2 = performance.now();
    native.removeTokenCellsFromSequence!(s._sequenceId, sinks, sinks + shiftSize);
    const t3 = performance.now();
    native.shiftSequenceTokenCells!(s._sequenceId, sinks + shiftSize, n, -shiftSize);
    const t4 = performance.now();
    diagnostics.nativeMinPositionMs = round(t2 - t1, 4);
    diagnostics.nativeSeqRmMs = round(t3 - t2, 4);
    diagnostics.nativeSeqAddMs = round(t4 - t3, 4);
  } catch (error) {
    diagnostics.error = error instanceof Error ? error.message : String(error);
  }
  await sequence.dispose();
  const recomputeMsPerToken = median(recomputeMs);
  const deviceNames = await llama.getGpuDeviceNames();
  await context.dispose();
  await model.dispose();

  const result = {
    bench: "gpu-shift",
    label,
    model: path.basename(modelPath),
    backend: llama.gpu,
    device: deviceNames.join(", "),
    contextSize: context.contextSize,
    sinks: stats.sinks,
    shiftSize,
    generated,
    mode: stats.mode,
    sinksIntact,
    kvCellsPeak: stats.kvCellsPeak,
    msPerToken: {
      sinks: round(sinksMsPerToken, 4),
      sinksMedian: round(normalMedian, 4),
      recompute: round(recomputeMsPerToken, 3),
    },
    recomputeOverSinks: round(recomputeMsPerToken / sinksMsPerToken, 1),
    interTokenMs,
    /** Σ (shift token − median token) ÷ Σ token times over the whole decode. */
    amortizedShiftOverhead,
    recomputeSamples: recomputeMs.length,
    shift: {
      count: eraseMs.length,
      evictedPerShift: shiftSize,
      eraseCallMs: { p50: round(percentile(eraseMs, 50), 4), max: round(Math.max(0, maxOf(eraseMs)), 4) },
      nextTokenExtraMs: { p50: round(median(shiftExtra), 4), max: round(Math.max(0, maxOf(shiftExtra)), 4) },
      /** erase call + the extra time of the next decode (K re-rotation), median. */
      totalMs: round(median(eraseMs) + Math.max(0, median(shiftExtra)), 4),
      tokenAfterShiftMs: { p50: round(median(afterShift), 4) },
      diagnostics,
    },
    date: new Date().toISOString(),
  };
  console.log(`gpu-shift — ${label} on ${result.device}, cache ${result.contextSize}, ${result.sinks} sinks, shift ${shiftSize}`);
  console.log(
    table(
      ["measure", "value"],
      [
        ["sinks ms/token (mean, full cache, shifts included)", result.msPerToken.sinks],
        ["recompute ms/token (median)", result.msPerToken.recompute],
        ["recompute / sinks", `${result.recomputeOverSinks}x`],
        ["shifts during decode", result.shift.count],
        ["shift: erase call ms p50 / max", `${result.shift.eraseCallMs.p50} / ${result.shift.eraseCallMs.max}`],
        ["shift: next token extra ms p50 / max", `${result.shift.nextTokenExtraMs.p50} / ${result.shift.nextTokenExtraMs.max}`],
        ["shift: total ms (p50)", result.shift.totalMs],
        ["inter-token ms p50 / p99 / max (all tokens)", `${interTokenMs.all.p50} / ${interTokenMs.all.p99} / ${interTokenMs.all.max}`],
        ["inter-token ms p50 / p99 (without shift tokens)", `${interTokenMs.withoutShifts.p50} / ${interTokenMs.withoutShifts.p99}`],
        ["amortized shift overhead (share of decode time)", `${round(amortizedShiftOverhead * 100, 3)}%`],
        ["sinks intact", String(sinksIntact)],
      ],
    ),
  );
  printJson(result, json);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
