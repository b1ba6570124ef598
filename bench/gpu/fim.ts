// GPU: inline completion latency through the product's own code path — the Engine (model load,
// backend) and the CompletionService (FIM prompt with a stable prefix anchor, KV reuse through
// StreamingSequence.syncTo, stop rules) — exactly what answers textDocument/inlineCompletion.
//
//   node .gpu/bench/fim.mjs --model <gguf> --text <file> [--context 4096] [--max-tokens 16]
//        [--requests 80] [--warmup 3] [--start-char 20000] [--threads 4] [--label name] [--json]
//
// A document (the corpus text) is "typed": the cursor advances by 1–6 characters (seeded) between
// requests and each position asks for one completion, like keystrokes. Latency is the wall time of
// CompletionService.complete() (prompt build, sync onto the cached tokens, generation, stop rules).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { TextDocument } from "vscode-languageserver-textdocument";
import { defaultSettings, type Settings } from "../../common/settings";
import { CompletionService } from "../../server/completion/service";
import { Engine } from "../../server/engine";
import type { Logger } from "../../server/log";
import { flag, int, mean, median, parseArgs, percentile, printJson, round, str, table } from "./common";
import { maxOf } from "../../common/arrays";

const noCancel = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose: () => undefined }) };

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(str(args, "model"));
  const textPath = path.resolve(str(args, "text"));
  const contextSize = int(args, "context", 4096);
  const maxTokens = int(args, "max-tokens", 16);
  const requests = int(args, "requests", 80);
  const warmup = int(args, "warmup", 3);
  const startChar = int(args, "start-char", 20000);
  const threads = int(args, "threads", 4);
  const label = str(args, "label", path.basename(modelPath));
  const json = flag(args, "json");

  const errors: string[] = [];
  const log: Logger = {
    error: (m) => errors.push(m),
    warn: () => undefined,
    info: () => undefined,
    debug: () => undefined,
    trace: () => undefined,
    setLevel: () => undefined,
  };
  const engine = new Engine(log, () => undefined);
  const settings: Settings = {
    ...defaultSettings,
    model: { path: modelPath, backend: "auto", gpuLayers: "auto" },
    context: { ...defaultSettings.context, size: contextSize },
    threads,
    completions: { ...defaultSettings.completions, enable: true, maxTokens, debounceMs: 0 },
  };
  await engine.configure(settings);
  const status = engine.currentStatus;
  if (status.state !== "ready") throw new Error(`The engine did not load the model: ${status.message}`);
  const loaded = engine.requireModel();

  const text = (await readFile(textPath, "utf8")).slice(0, startChar + 4 * (requests + warmup) * 6 + 20000);
  const uri = "file:///bench/typing.py";
  const document = TextDocument.create(uri, "python", 1, text);
  const service = new CompletionService(engine, log, { get: (u) => (u === uri ? document : undefined) });
  engine.addListener(service);

  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let offset = startChar;
  const latencies: number[] = [];
  for (let i = 0; i < warmup + requests; i++) {
    offset += 1 + Math.floor(rand() * 6);
    const position = document.positionAt(offset);
    const t0 = performance.now();
    await service.complete({ textDocument: { uri }, position, context: { triggerKind: 2 } }, noCancel);
    if (i >= warmup) latencies.push(performance.now() - t0);
  }
  const stats = service.stats();
  const records = stats.recent.slice(warmup);
  const completed = records.filter((r) => r.outcome === "completed");
  const kv = stats.kv;
  const deviceNames = await loaded.llama.getGpuDeviceNames();
  const result = {
    bench: "gpu-fim",
    label,
    model: path.basename(modelPath),
    backend: status.backend,
    device: deviceNames.join(", "),
    path: "server/completion/service.ts CompletionService.complete (Engine + StreamingSequence.syncTo)",
    contextSize: kv?.contextSize ?? null,
    maxTokens,
    requests: latencies.length,
    outcomes: Object.fromEntries(
      [...new Set(records.map((r) => r.outcome))].map((o) => [o, records.filter((r) => r.outcome === o).length]),
    ),
    latencyMs: {
      p50: round(percentile(latencies, 50), 2),
      p95: round(percentile(latencies, 95), 2),
      mean: round(mean(latencies), 2),
      max: round(maxOf(latencies), 2),
    },
    tokens: {
      promptMedian: median(completed.map((r) => r.promptTokens)),
      reusedMedian: median(completed.map((r) => r.reusedTokens)),
      evaluatedMedian: median(completed.map((r) => r.evaluatedTokens)),
      generatedMedian: median(completed.map((r) => r.generatedTokens)),
      generatedMean: round(mean(completed.map((r) => r.generatedTokens)), 2),
      fullLengthShare: round(completed.filter((r) => r.generatedTokens >= maxTokens).length / Math.max(1, completed.length), 3),
    },
    mode: records[0]?.mode ?? null,
    errors: errors.slice(0, 3),
    date: new Date().toISOString(),
  };
  await engine.dispose();
  console.log(`gpu-fim — ${label} on ${result.device}, ${result.requests} completions of ≤ ${maxTokens} tokens, context ${result.contextSize}`);
  console.log(
    table(
      ["measure", "value"],
      [
        ["latency ms p50 / p95 / max", `${result.latencyMs.p50} / ${result.latencyMs.p95} / ${result.latencyMs.max}`],
        ["prompt / reused / evaluated tokens (median)", `${result.tokens.promptMedian} / ${result.tokens.reusedMedian} / ${result.tokens.evaluatedMedian}`],
        ["generated tokens (median, share at max)", `${result.tokens.generatedMedian} (${result.tokens.fullLengthShare})`],
        ["outcomes", JSON.stringify(result.outcomes)],
      ],
    ),
  );
  printJson(result, json);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
