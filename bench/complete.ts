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
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  CancellationTokenSource,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
} from "vscode-languageserver-protocol/node";
import { bench } from "../common/protocol";
import { defaultSettings, type Settings } from "../common/settings";
import { SuggestionCache } from "../common/suggestionCache";
import { cancellableDelay } from "../src/completion/debounce";
import { percentile } from "./cli";
import { repoRoot } from "../test/support/paths";
import { startServer } from "../test/support/serverProcess";
import { prng } from "../test/support/random";
import { firstItem, positionAt } from "../test/support/inlineCompletion";
import { maxOf } from "../common/arrays";
import { runBigDocument } from "./bigDocument";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function numberArg(name: string, fallback: number): number {
  const raw = arg(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, got ${raw}`);
  return value;
}

const defaultFiles = [
  path.join(repoRoot, "server", "engine.ts"),
  path.join(repoRoot, "common", "settings.ts"),
  "/usr/lib/python3.11/textwrap.py",
  "/usr/lib/python3.11/shlex.py",
  "/usr/lib/python3.11/fnmatch.py",
];


interface SourceFile {
  path: string;
  uri: string;
  languageId: string;
  text: string;
}

type Action =
  | { kind: "jump"; file: number; offset: number; deleteLength: number; delayMs: number }
  | { kind: "type"; text: string; delayMs: number }
  | { kind: "backspace"; delayMs: number };

/** Offsets of lines that open a block (the next non-blank line is indented deeper). */
function blockStarts(text: string): { bodyOffset: number; bodyLines: string[] }[] {
  const lines = text.split("\n");
  const starts: number[] = [];
  let at = 0;
  for (const line of lines) {
    starts.push(at);
    at += line.length + 1;
  }
  const indent = (line: string) => line.length - line.trimStart().length;
  const result: { bodyOffset: number; bodyLines: string[] }[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = lines[i]!;
    const body = lines[i + 1]!;
    if (head.trim() === "" || body.trim() === "" || indent(body) <= indent(head)) continue;
    if (!/[:{(]\s*$/.test(head)) continue;
    const bodyLines: string[] = [];
    for (let j = i + 1; j < lines.length && bodyLines.length < 3; j++) {
      if (lines[j]!.trim() === "" || indent(lines[j]!) < indent(body)) break;
      bodyLines.push(lines[j]!);
    }
    result.push({ bodyOffset: starts[i + 1]! + indent(body), bodyLines });
  }
  return result;
}

/** The whole session, decided up front from the seed (independent of timing and of the model). */
function script(files: SourceFile[], edits: number, seed: number): Action[] {
  const rand = prng(seed);
  const blocks = files.map((file) => blockStarts(file.text));
  const actions: Action[] = [];
  let count = 0;
  let file = 0;
  const letters = "abcdefghijklmnopqrstuvwxyz";
  while (count < edits) {
    if (actions.length > 0 && rand() < 0.3) file = Math.floor(rand() * files.length);
    const candidates = blocks[file]!;
    if (candidates.length === 0) {
      file = (file + 1) % files.length;
      continue;
    }
    const block = candidates[Math.floor(rand() * candidates.length)]!;
    const lineCount = 1 + Math.floor(rand() * block.bodyLines.length);
    const segment = block.bodyLines.slice(0, lineCount).join("\n").trimStart();
    actions.push({ kind: "jump", file, offset: block.bodyOffset, deleteLength: segment.length, delayMs: 800 + rand() * 700 });
    let i = 0;
    while (i < segment.length && count < edits) {
      const ch = segment[i]!;
      let delayMs = 70 + -Math.log(1 - rand()) * 90;
      const previous = segment[i - 1];
      if (previous !== undefined && /[\s.,():=]/.test(previous) && rand() < 0.15) delayMs += 300 + rand() * 600;
      if (ch !== "\n" && rand() < 0.04) {
        actions.push({ kind: "type", text: letters[Math.floor(rand() * letters.length)]!, delayMs });
        actions.push({ kind: "backspace", delayMs: 150 + rand() * 200 });
        count += 2;
        delayMs = 80 + rand() * 100;
      }
      if (ch === "\n") {
        // Enter with auto-indent: the newline and the next line's indentation in one edit.
        const indentation = /^[ \t]*/.exec(segment.slice(i + 1))![0];
        actions.push({ kind: "type", text: "\n" + indentation, delayMs: delayMs + 200 + rand() * 400 });
        i += 1 + indentation.length;
      } else {
        actions.push({ kind: "type", text: ch, delayMs });
        i += 1;
      }
      count += 1;
    }
  }
  return actions;
}




const round1 = (value: number) => Math.round(value * 10) / 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface SessionResult {
  requests: number;
  p50Ms: number;
  p95Ms: number;
  evaluatedTokensPerRequest: { p50: number; p95: number };
  reuseFraction: number;
  cancelled: number;
  errors: number;
  // Table-only figures.
  edits: number;
  debounceMs: number;
  debounced: number;
  clientCacheHits: number;
  serverCacheHits: number;
  modelCalls: number;
  dropped: number;
  serverCancelled: number;
  promptTokensP50: number;
  pauseToSuggestionP50: number;
  pauseToSuggestionP95: number;
  pausesWithSuggestion: string;
  wallSeconds: number;
  rssStartMiB: number;
  rssEndMiB: number;
  kvCells: number;
  contextSize: number;
}

async function runSession(options: {
  model: string;
  files: SourceFile[];
  edits: number;
  seed: number;
  debounceMs: number;
  threads: number;
  contextSize: number;
  maxTokens: number;
  speed: number;
}): Promise<SessionResult> {
  const settings: Settings = {
    ...defaultSettings,
    model: { ...defaultSettings.model, path: options.model, backend: "cpu" },
    context: { ...defaultSettings.context, size: options.contextSize },
    threads: options.threads,
    logLevel: "warn",
    completions: { ...defaultSettings.completions, maxTokens: options.maxTokens, debounceMs: options.debounceMs },
  };
  const server = await startServer(settings);
  const ready = await server.waitForStatus((status) => status.state === "ready" || status.state === "error", 120_000);
  if (ready.state !== "ready") throw new Error(`The model did not load: ${ready.message}`);
  const docs = options.files.map((file) => ({ ...file, version: 1 }));
  for (const doc of docs) {
    await server.connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri: doc.uri, languageId: doc.languageId, version: 1, text: doc.text },
    });
  }
  const actions = script(options.files, options.edits, options.seed);
  const clientCache = new SuggestionCache(32);
  const latencies: number[] = [];
  const pauseToSuggestion: number[] = [];
  let pauses = 0;
  let requests = 0;
  let cancelled = 0;
  let debounced = 0;
  let clientHits = 0;
  let clientErrors = 0;
  const records = new Map<number, bench.CompletionRequestRecord>();
  const collect = async () => {
    const since = records.size === 0 ? 0 : maxOf([...records.keys()]);
    const stats = await server.connection.sendRequest(bench.CompletionStatsRequest.type, { sinceId: since });
    for (const record of stats.recent) records.set(record.id, record);
    return stats;
  };
  const rssStart = (await collect()).rssBytes;

  let current: { source: CancellationTokenSource; done: Promise<void>; shownAt?: number } | undefined;
  let file = 0;
  let cursor = 0;
  const started = performance.now();

  const edit = async (start: number, end: number, text: string) => {
    const doc = docs[file]!;
    const range = { start: positionAt(doc.text, start), end: positionAt(doc.text, end) };
    doc.text = doc.text.slice(0, start) + text + doc.text.slice(end);
    doc.version++;
    await server.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri: doc.uri, version: doc.version },
      contentChanges: [{ range, text }],
    });
  };

  const provide = (keystrokeAt: number) => {
    const doc = docs[file]!;
    const source = new CancellationTokenSource();
    const token = source.token;
    const key = SuggestionCache.keyOf(doc.uri, doc.text, cursor);
    const position = positionAt(doc.text, cursor);
    const state: { source: CancellationTokenSource; done: Promise<void>; shownAt?: number } = {
      source,
      done: Promise.resolve(),
    };
    state.done = (async () => {
      if (clientCache.lookup(key) !== undefined) {
        clientHits++;
        state.shownAt = performance.now() - keystrokeAt;
        return;
      }
      if (!(await cancellableDelay(options.debounceMs, token))) {
        debounced++;
        return;
      }
      requests++;
      const sent = performance.now();
      try {
        const result = await server.connection.sendRequest(
          InlineCompletionRequest.type,
          { textDocument: { uri: doc.uri }, position, context: { triggerKind: InlineCompletionTriggerKind.Automatic } },
          token,
        );
        if (token.isCancellationRequested) {
          cancelled++;
          return;
        }
        latencies.push(performance.now() - sent);
        const text = firstItem(result);
        if (text !== undefined) {
          clientCache.add(key, text);
          state.shownAt = performance.now() - keystrokeAt;
        }
      } catch (error) {
        if (token.isCancellationRequested) cancelled++;
        else {
          clientErrors++;
          process.stderr.write(`request failed: ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
    })();
    return state;
  };

  for (let index = 0; index < actions.length; index++) {
    const action = actions[index]!;
    await sleep(action.delayMs / options.speed);
    // The user paused before this action: did a suggestion show for the previous keystroke?
    if (current !== undefined && action.delayMs >= 400) {
      pauses++;
      if (current.shownAt !== undefined && current.shownAt <= action.delayMs / options.speed) {
        pauseToSuggestion.push(current.shownAt);
      }
    }
    current?.source.cancel();
    if (action.kind === "jump") {
      file = action.file;
      cursor = action.offset;
      await edit(cursor, cursor + action.deleteLength, "");
    } else if (action.kind === "type") {
      await edit(cursor, cursor, action.text);
      cursor += action.text.length;
    } else {
      await edit(cursor - 1, cursor, "");
      cursor -= 1;
    }
    current = provide(performance.now());
    if (index % 100 === 99) await collect();
  }
  await current?.done;
  const wallSeconds = (performance.now() - started) / 1000;
  const final = await collect();
  await server.stop();

  const all = [...records.values()];
  const completed = all.filter((record) => record.outcome === "completed");
  const promptSum = completed.reduce((sum, record) => sum + record.promptTokens, 0);
  const reusedSum = completed.reduce((sum, record) => sum + record.reusedTokens, 0);
  const count = (outcome: bench.CompletionRequestRecord["outcome"]) => all.filter((record) => record.outcome === outcome).length;
  return {
    requests,
    p50Ms: round1(percentile(latencies, 50)),
    p95Ms: round1(percentile(latencies, 95)),
    evaluatedTokensPerRequest: {
      p50: percentile(
        completed.map((record) => record.evaluatedTokens),
        50,
      ),
      p95: percentile(
        completed.map((record) => record.evaluatedTokens),
        95,
      ),
    },
    reuseFraction: promptSum === 0 ? 0 : Math.round((reusedSum / promptSum) * 1000) / 1000,
    cancelled,
    errors: clientErrors + count("error"),
    edits: actions.filter((action) => action.kind !== "jump").length,
    debounceMs: options.debounceMs,
    debounced,
    clientCacheHits: clientHits,
    serverCacheHits: count("cacheHit"),
    modelCalls: final.modelCalls,
    dropped: count("dropped"),
    serverCancelled: count("cancelled"),
    promptTokensP50: percentile(
      completed.map((record) => record.promptTokens),
      50,
    ),
    pauseToSuggestionP50: round1(percentile(pauseToSuggestion, 50)),
    pauseToSuggestionP95: round1(percentile(pauseToSuggestion, 95)),
    pausesWithSuggestion: `${pauseToSuggestion.length}/${pauses}`,
    wallSeconds: round1(wallSeconds),
    rssStartMiB: round1(rssStart / 1048576),
    rssEndMiB: round1(final.rssBytes / 1048576),
    kvCells: final.kv?.kvCells ?? 0,
    contextSize: final.kv?.contextSize ?? 0,
  };
}

function loadFiles(paths: string[]): SourceFile[] {
  const files: SourceFile[] = [];
  for (const file of paths) {
    if (!existsSync(file)) {
      process.stderr.write(`skipping ${file} (not on this machine)\n`);
      continue;
    }
    const text = readFileSync(file, "utf8").replace(/\r\n/g, "\n");
    const languageId = file.endsWith(".py") ? "python" : file.endsWith(".ts") ? "typescript" : "plaintext";
    files.push({ path: file, uri: `file://${path.resolve(file)}`, languageId, text });
  }
  if (files.length === 0) throw new Error("No source files to edit: pass --files a.py,b.ts");
  return files;
}

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
  const model = arg("model");
  if (model === undefined) throw new Error("--model <gguf> is required (e.g. ../shared/models/tinycoder-16m-q8_0.gguf)");
  if (!existsSync(model)) throw new Error(`Model file not found: ${model}`);
  const json = process.argv.includes("--json");
  const documentMB = arg("document-mb");
  if (documentMB !== undefined) {
    const mb = numberArg("document-mb", 5);
    if (mb <= 0 || mb > 512) throw new Error(`--document-mb must be in (0, 512], got ${documentMB}`);
    const settings: Settings = {
      ...defaultSettings,
      model: { ...defaultSettings.model, path: path.resolve(model), backend: "cpu" },
      context: { ...defaultSettings.context, size: numberArg("context", 512) },
      threads: numberArg("threads", 1),
      logLevel: "warn",
      completions: { ...defaultSettings.completions, maxTokens: numberArg("max-tokens", defaultSettings.completions.maxTokens) },
    };
    console.log(`bench:complete --document-mb ${mb} — ${os.cpus()[0]?.model ?? "cpu"} ×${os.cpus().length}, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
    console.log(`model ${path.basename(model)}, ${settings.threads} threads, context ${settings.context.size}, maxTokens ${settings.completions.maxTokens}`);
    const result = await runBigDocument(settings, mb, (line) => console.log(line), process.argv.includes("--sync-whole"));
    for (const [key, value] of Object.entries(result)) console.log(`  ${key.padEnd(22)} ${JSON.stringify(value)}`);
    if (json) console.log(JSON.stringify(result));
    return;
  }
  const files = loadFiles(arg("files")?.split(",") ?? defaultFiles);
  const base = {
    model: path.resolve(model),
    files,
    edits: numberArg("edits", 300),
    seed: numberArg("seed", 1),
    debounceMs: numberArg("debounce-ms", defaultSettings.completions.debounceMs),
    threads: numberArg("threads", 1),
    contextSize: numberArg("context", 512),
    maxTokens: numberArg("max-tokens", defaultSettings.completions.maxTokens),
    speed: numberArg("speed", 1),
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
