// Inline completion benchmark: replays a scripted, seeded editing session over real source files
// through the real server process (dist/server.js over IPC), acting as VS Code + StreamSink's client
// middleware: every keystroke cancels the request in flight, the client LRU answers what it can,
// the rest waits the debounce and is sent as a standard textDocument/inlineCompletion request.
//
//   npm run bench:complete -- --model ../shared/models/tinycoder-16m-q8_0.gguf --edits 300 [--json]
//     [--seed 1] [--debounce-ms N] [--threads 1] [--context 512] [--max-tokens N] [--speed 1]
//     [--files a.py,b.ts] [--sweep-debounce 0,50,100,150]
//   npm run bench:complete -- --model … --document-mb 5 [--json]
//     one one-line minified document of that size instead of the session (bench/bigDocument.ts):
//     completions at its end and middle; JSON {"documentMB",…,"maxEventLoopStallMs"}; [--sync-whole]
//
// The session: jump to a block in a file (sometimes another file), delete its first 1–3 body lines
// and type them again character by character (real code, auto-indent after a newline), with typos
// fixed by backspace, word and line pauses, and jumps between functions and files. Keystroke
// delays are drawn from the seed too, and played in real time (divided by --speed).
//
// Prints a table and, last, one JSON line:
//   {"requests","p50Ms","p95Ms","evaluatedTokensPerRequest":{"p50","p95"},"reuseFraction","cancelled","errors"}
// requests: requests sent to the server; p50Ms/p95Ms: their latency when answered (not cancelled);
// evaluatedTokensPerRequest: prompt tokens the model evaluated per model call that finished;
// reuseFraction: share of those calls' prompt tokens taken from the KV cache; cancelled: requests
// sent and then cancelled by a keystroke; errors: error answers plus server-side errors.
//
// Here: flags and output. The session is written by bench/complete/script.ts and played by
// bench/complete/session.ts; the server is started as every benchmark does (bench/server.ts).
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { defaultSettings } from "../common/settings";
import { repoRoot } from "../test/support/paths";
import { runBigDocument } from "./bigDocument";
import { flag, num, parseArgs } from "./cli";
import { loadFiles } from "./complete/script";
import { runSession, type SessionResult } from "./complete/session";
import { benchSettings } from "./server";

const defaultFiles = [
  path.join(repoRoot, "server", "engine.ts"),
  path.join(repoRoot, "common", "settings.ts"),
  "/usr/lib/python3.11/textwrap.py",
  "/usr/lib/python3.11/shlex.py",
  "/usr/lib/python3.11/fnmatch.py",
];

function summary(result: SessionResult) {
  return {
    requests: result.requests,
    p50Ms: result.p50Ms,
    p95Ms: result.p95Ms,
    evaluatedTokensPerRequest: result.evaluatedTokensPerRequest,
    reuseFraction: result.reuseFraction,
    cancelled: result.cancelled,
    errors: result.errors,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const arg = (name: string) => (typeof args.get(name) === "string" ? (args.get(name) as string) : undefined);
  const model = arg("model");
  if (model === undefined) throw new Error("--model <gguf> is required (e.g. ../shared/models/tinycoder-16m-q8_0.gguf)");
  if (!existsSync(model)) throw new Error(`Model file not found: ${model}`);
  const json = flag(args, "json");
  const documentMB = arg("document-mb");
  if (documentMB !== undefined) {
    const mb = num(args, "document-mb", 5);
    if (mb <= 0 || mb > 512) throw new Error(`--document-mb must be in (0, 512], got ${documentMB}`);
    const settings = benchSettings({
      model: path.resolve(model),
      context: num(args, "context", 512),
      threads: num(args, "threads", 1),
      completions: { maxTokens: num(args, "max-tokens", defaultSettings.completions.maxTokens) },
    });
    console.log(`bench:complete --document-mb ${mb} — ${os.cpus()[0]?.model ?? "cpu"} ×${os.cpus().length}, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
    console.log(`model ${path.basename(model)}, ${settings.threads} threads, context ${settings.context.size}, maxTokens ${settings.completions.maxTokens}`);
    const result = await runBigDocument(settings, mb, (line) => console.log(line), flag(args, "sync-whole"));
    for (const [key, value] of Object.entries(result)) console.log(`  ${key.padEnd(22)} ${JSON.stringify(value)}`);
    if (json) console.log(JSON.stringify(result));
    return;
  }
  const files = loadFiles(arg("files")?.split(",") ?? defaultFiles);
  const base = {
    model: path.resolve(model),
    files,
    edits: num(args, "edits", 300),
    seed: num(args, "seed", 1),
    debounceMs: num(args, "debounce-ms", defaultSettings.completions.debounceMs),
    threads: num(args, "threads", 1),
    contextSize: num(args, "context", 512),
    maxTokens: num(args, "max-tokens", defaultSettings.completions.maxTokens),
    speed: num(args, "speed", 1),
  };
  console.log(`bench:complete — ${os.cpus()[0]?.model ?? "cpu"} ×${os.cpus().length}, load ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  console.log(`model ${path.basename(model)}, ${base.threads} threads, context ${base.contextSize}, maxTokens ${base.maxTokens}, seed ${base.seed}, ${base.edits} edits`);
  for (const file of files) {
    const sha = createHash("sha256").update(file.text).digest("hex").slice(0, 12);
    console.log(`  file ${path.relative(repoRoot, file.path).startsWith("..") ? file.path : path.relative(repoRoot, file.path)} (${file.text.length} chars, sha256 ${sha})`);
  }

  const sweep = arg("sweep-debounce");
  const values = sweep === undefined ? [base.debounceMs] : sweep.split(",").map(Number);
  const results: SessionResult[] = [];
  const columns: (keyof SessionResult)[] = [
    "debounceMs",
    "edits",
    "debounced",
    "clientCacheHits",
    "requests",
    "cancelled",
    "modelCalls",
    "dropped",
    "serverCancelled",
    "serverCacheHits",
    "p50Ms",
    "p95Ms",
    "pauseToSuggestionP50",
    "pauseToSuggestionP95",
    "pausesWithSuggestion",
    "promptTokensP50",
    "reuseFraction",
    "errors",
    "rssStartMiB",
    "rssEndMiB",
    "kvCells",
    "wallSeconds",
  ];
  for (const debounceMs of values) {
    const result = await runSession({ ...base, debounceMs });
    results.push(result);
    console.log("");
    for (const column of columns) console.log(`  ${column.padEnd(22)} ${JSON.stringify(result[column])}`);
    console.log(`  ${"evaluatedTokens p50/p95".padEnd(22)} ${result.evaluatedTokensPerRequest.p50} / ${result.evaluatedTokensPerRequest.p95}`);
  }
  if (json) {
    if (results.length === 1) console.log(JSON.stringify(summary(results[0]!)));
    else console.log(JSON.stringify({ sweep: results.map((result) => ({ debounceMs: result.debounceMs, ...summary(result), pauseToSuggestionP50: result.pauseToSuggestionP50 })) }));
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
