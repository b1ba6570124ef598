// One bench:complete session through the real server process (dist/server.js over IPC), acting as
// VS Code + StreamSink's client middleware: every keystroke cancels the request in flight, the
// client LRU answers what it can, the rest waits the debounce and is sent as a standard
// textDocument/inlineCompletion request. See bench/complete.ts for the figures.
import {
  CancellationTokenSource,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
} from "vscode-languageserver-protocol/node";
import { maxOf } from "../../common/arrays";
import { bench } from "../../common/protocol";
import { SuggestionCache } from "../../common/suggestionCache";
import { cancellableDelay } from "../../src/completion/debounce";
import { firstItem, positionAt } from "../../test/support/inlineCompletion";
import { percentile, round } from "../cli";
import { benchSettings, startBenchServer } from "../server";
import { script, type SourceFile } from "./script";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SessionResult {
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

export async function runSession(options: {
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
  const server = await startBenchServer(
    benchSettings({
      model: options.model,
      context: options.contextSize,
      threads: options.threads,
      completions: { maxTokens: options.maxTokens, debounceMs: options.debounceMs },
    }),
  );
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
    p50Ms: round(percentile(latencies, 50), 1),
    p95Ms: round(percentile(latencies, 95), 1),
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
    pauseToSuggestionP50: round(percentile(pauseToSuggestion, 50), 1),
    pauseToSuggestionP95: round(percentile(pauseToSuggestion, 95), 1),
    pausesWithSuggestion: `${pauseToSuggestion.length}/${pauses}`,
    wallSeconds: round(wallSeconds, 1),
    rssStartMiB: round(rssStart / 1048576, 1),
    rssEndMiB: round(final.rssBytes / 1048576, 1),
    kvCells: final.kv?.kvCells ?? 0,
    contextSize: final.kv?.contextSize ?? 0,
  };
}
