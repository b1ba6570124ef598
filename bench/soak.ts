// A compressed day of use through the real server process (dist/server.js over IPC, as VS Code runs
// it): chat turns and inline-completion bursts interleaved, with cancellations (a chat answer stopped
// mid-way, stale completions cancelled by the next keystroke) and resets (New chat, Reset Completion
// Cache), repeated for --minutes. Reports whether it keeps working and stays flat:
//
//   npm run bench:soak -- --model <gguf> [--minutes 5] [--context 512] [--threads 1] [--only chat|completion] [--json]
//
// --only narrows the mix to one feature (to tell which one a drift comes from).
// requests  every request sent (chat, completion, reset, state/diagnostics probes)
// errors    requests that failed other than by the cancellation the bench itself asked for
// crashes   server process exits (the bench stops at the first one)
// rssMB     server RSS (/proc/<pid>/status VmRSS) after the first cycle and at the end
// p95Ms     p95 latency of the chat turns and completion requests that ran to the end (not
//           cancelled), over the first and the last fifth of the run
// kvCellsMax most KV cells any sequence held (chat results; completion and chat stats sampled per cycle)
// contextSize the real context size (context.contextSize)
// With --json, the LAST stdout line is the JSON object.
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  CancellationTokenSource,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
} from "vscode-languageserver-protocol/node";
import {
  ChatResetRequest,
  ChatSendRequest,
  ChatTokenNotification,
  bench,
  DiagnosticsRequest,
  ResetCacheRequest,
  type ChatHistoryMessage,
} from "../common/protocol";
import { repoRoot } from "../test/support/paths";
import type { ServerHandle } from "../test/support/serverProcess";
import { benchSettings, startBenchServer } from "./server";
import { flag, int, machine, parseArgs, percentile, round, str, table } from "./cli";
import { positionAt } from "../test/support/inlineCompletion";
import { prng } from "../test/support/random";
import { minOf } from "../common/arrays";

const args = parseArgs(process.argv.slice(2));
const modelPath = path.resolve(str(args, "model"));
const minutes = Number(str(args, "minutes", "5"));
const contextSize = int(args, "context", 512);
const threads = int(args, "threads", 1);
const json = flag(args, "json");
const only = str(args, "only", "");
if (only !== "" && only !== "chat" && only !== "completion") throw new Error(`--only takes chat or completion, not ${only}`);
const withChat = only !== "completion";
const withCompletions = only !== "chat";
if (!Number.isFinite(minutes) || minutes <= 0) throw new Error("--minutes must be a positive number.");

const random = prng(7);

const questions = [
  "Write a Python function that reverses a linked list.",
  "How do I read a JSON file in Node.js?",
  "Explain what this does: `return [x for x in items if x]`",
  "Add type hints to def merge(a, b): return {**a, **b}",
  "Write a unit test for a function add(a, b).",
  "What is the difference between a list and a tuple?",
  "Refactor this loop into a map call: for x in xs: ys.append(f(x))",
  "Write a TypeScript interface for a user with a name and an email.",
];

// Real source files to edit: this repository's own code.
const sources = ["server/serialQueue.ts", "common/validate.ts", "server/log.ts"].map((file) => ({
  uri: `file:///soak/${file}`,
  text: readFileSync(path.join(repoRoot, file), "utf8"),
}));

function rssMB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const requestCancelled = -32_800;

async function main(): Promise<void> {
  const server: ServerHandle = await startBenchServer(benchSettings({ model: modelPath, context: contextSize, threads }));
  let crashes = 0;
  let exited = false;
  let stopping = false;
  server.process.once("exit", () => {
    exited = true;
    if (!stopping) crashes++;
  });

  let requests = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  let kvCellsMax = 0;
  let realContextSize = 0;
  const latencies: { at: number; ms: number; kind: string }[] = [];
  const counts = { chatTurns: 0, chatCancelled: 0, chatResets: 0, completions: 0, completionsCancelled: 0, cacheResets: 0 };

  /** Sends one request; counts it; an error other than our own cancellation is an error. */
  async function request<T>(kind: string, send: () => Promise<T>, cancelled = false): Promise<T | undefined> {
    requests++;
    const started = performance.now();
    try {
      const result = await send();
      if (!cancelled) latencies.push({ at: started, ms: performance.now() - started, kind });
      return result;
    } catch (error) {
      const { code, message } = error as { code?: number; message?: string };
      if (cancelled && code === requestCancelled) return undefined;
      errors++;
      if (errorSamples.length < 5) errorSamples.push(`${kind}: ${message ?? String(error)}`);
      return undefined;
    }
  }

  // Chat state kept by the "client", as the extension does.
  let chatNumber = 0;
  let chatId = `soak-chat-${chatNumber}`;
  let history: ChatHistoryMessage[] = [];
  let messageNumber = 0;
  let firstToken: (() => void) | undefined;
  server.connection.onNotification(ChatTokenNotification.type, () => firstToken?.());

  async function chatTurn(cancel: boolean): Promise<void> {
    const userId = `u${++messageNumber}`;
    const assistantId = `a${messageNumber}`;
    const text = questions[Math.floor(random() * questions.length)]!;
    const source = new CancellationTokenSource();
    if (cancel) {
      // Stop the answer once it has started streaming (the user presses Escape).
      firstToken = () => {
        firstToken = undefined;
        source.cancel();
      };
    }
    const result = await request(
      "chat",
      () =>
        server.connection.sendRequest(
          ChatSendRequest.type,
          { chatId, userMessageId: userId, assistantMessageId: assistantId, text, history, maxTokens: 48, temperature: 0.7, seed: messageNumber },
          source.token,
        ),
      cancel,
    );
    firstToken = undefined;
    source.dispose();
    if (result === undefined) return;
    if (result.stopReason === "cancelled") counts.chatCancelled++;
    else counts.chatTurns++;
    kvCellsMax = Math.max(kvCellsMax, result.kvCellsMax);
    realContextSize = result.stats.contextSize;
    history = [...history, { id: userId, role: "user", text }, { id: assistantId, role: "assistant", text: result.text }];
  }

  const docs = sources.map((source, index) => ({ ...source, version: 1, cursor: Math.floor(source.text.length * (0.3 + 0.2 * index)) }));
  for (const doc of docs) {
    await server.connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri: doc.uri, languageId: "typescript", version: doc.version, text: doc.text },
    });
  }

  async function completionBurst(): Promise<void> {
    const doc = docs[Math.floor(random() * docs.length)]!;
    // Jump somewhere in the file now and then, then type a few characters, one request per keystroke;
    // each keystroke cancels the previous request if it is still running.
    if (random() < 0.3) doc.cursor = Math.floor(random() * doc.text.length);
    const typed = "const value = items.map((item) => item.id);";
    const keystrokes = 3 + Math.floor(random() * 4);
    let previous: { source: CancellationTokenSource; done: Promise<unknown> } | undefined;
    for (let k = 0; k < keystrokes; k++) {
      const char = typed[k % typed.length]!;
      doc.text = doc.text.slice(0, doc.cursor) + char + doc.text.slice(doc.cursor);
      doc.cursor++;
      doc.version++;
      await server.connection.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri: doc.uri, version: doc.version },
        contentChanges: [{ text: doc.text }],
      });
      if (previous) previous.source.cancel();
      const source = new CancellationTokenSource();
      const last = k === keystrokes - 1;
      const done = request(
        "completion",
        () =>
          server.connection.sendRequest(
            InlineCompletionRequest.type,
            {
              textDocument: { uri: doc.uri },
              position: positionAt(doc.text, doc.cursor),
              context: { triggerKind: InlineCompletionTriggerKind.Automatic },
            },
            source.token,
          ),
        !last, // every request but the last may be cancelled by the next keystroke
      );
      if (!last) counts.completionsCancelled++;
      previous = { source, done };
      if (last) await done;
      // A typing pause between keystrokes (shorter than a request, so most are cancelled).
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    counts.completions += keystrokes;
    // Undo the typing, so the files keep their size: a drift measured between the first and the
    // last fifth must come from the server, not from documents that grew all run long.
    doc.text = doc.text.slice(0, doc.cursor - keystrokes) + doc.text.slice(doc.cursor);
    doc.cursor -= keystrokes;
    doc.version++;
    await server.connection.sendNotification(DidChangeTextDocumentNotification.type, {
      textDocument: { uri: doc.uri, version: doc.version },
      contentChanges: [{ text: doc.text }],
    });
  }

  // RSS and JS heap after every cycle, to tell a warm-up from a steady growth.
  const memory: { at: number; rss: number; heap: number }[] = [];
  async function sample(): Promise<void> {
    const diagnostics = await request("diagnostics", () => server.connection.sendRequest(DiagnosticsRequest.type, {}));
    if (diagnostics) memory.push({ at: performance.now(), rss: rssMB(server.process.pid), heap: diagnostics.process.jsHeapBytes / 2 ** 20 });
    for (const sequence of diagnostics?.sequences ?? []) {
      kvCellsMax = Math.max(kvCellsMax, sequence.kvCells);
      realContextSize ||= sequence.contextSize;
    }
    await request("completionStats", () => server.connection.sendRequest(bench.CompletionStatsRequest.type, { sinceId: 0 }));
  }

  const started = performance.now();
  const deadline = started + minutes * 60_000;
  let cycle = 0;
  let rssStart = 0;
  while (performance.now() < deadline && !exited) {
    cycle++;
    if (withChat) await chatTurn(cycle % 7 === 3);
    if (withCompletions) await completionBurst();
    if (withChat) await chatTurn(false);
    if (withCompletions) await completionBurst();
    if (cycle % 10 === 0) {
      // New chat: the client resets the server's stream and starts an empty transcript.
      await request("chatReset", () => server.connection.sendRequest(ChatResetRequest.type, { chatId }));
      counts.chatResets++;
      chatId = `soak-chat-${++chatNumber}`;
      history = [];
    }
    if (cycle % 25 === 0) {
      await request("resetCache", () => server.connection.sendRequest(ResetCacheRequest.type, { label: "completion" }));
      counts.cacheResets++;
    }
    await sample();
    if (cycle === 1) rssStart = rssMB(server.process.pid);
  }
  const elapsed = performance.now() - started;
  const rssEnd = exited ? 0 : rssMB(server.process.pid);
  const fifth = elapsed / 5;
  const first = latencies.filter((l) => l.at - started < fifth).map((l) => l.ms);
  const last = latencies.filter((l) => l.at - started >= elapsed - fifth).map((l) => l.ms);
  stopping = true;
  if (!exited) await server.stop();

  // Memory at each tenth of the run (the sample closest after it).
  const series = Array.from({ length: 11 }, (_, i) => {
    const target = started + (elapsed * i) / 10;
    const point = memory.find((m) => m.at >= target) ?? memory[memory.length - 1];
    return { minute: round((((point?.at ?? started) - started) / 60_000), 2), rssMB: round(point?.rss ?? 0, 1), jsHeapMB: round(point?.heap ?? 0, 1) };
  });
  // RSS swings with the server's garbage collections (native buffers are freed when the JS objects
  // holding them are collected), so the lowest RSS of the first and of the last fifth of the run is
  // also shown: a leak raises that floor, a collection that has not run yet does not.
  const floor = (from: number, to: number) => {
    const inRange = memory.filter((m) => m.at >= from && m.at < to).map((m) => m.rss);
    return minOf(inRange);
  };
  const rssFloor = { firstFifth: round(floor(started, started + fifth), 1), lastFifth: round(floor(started + elapsed - fifth, Infinity), 1) };
  const result = {
    requests,
    errors,
    crashes,
    rssMB: { start: round(rssStart, 1), end: round(rssEnd, 1) },
    p95Ms: { first: round(percentile(first, 95), 1), last: round(percentile(last, 95), 1) },
    kvCellsMax,
    contextSize: realContextSize,
  };
  const rssDrift = rssStart > 0 ? ((rssEnd - rssStart) / rssStart) * 100 : 0;
  const p95Drift = result.p95Ms.first > 0 ? ((result.p95Ms.last - result.p95Ms.first) / result.p95Ms.first) * 100 : 0;
  const m = machine();
  console.log(`Soak: ${modelPath}, ${round(elapsed / 60_000, 2)} min, context ${contextSize}, ${threads} threads, ${m.cpu} (${m.cores} cores), Node ${m.node}`);
  console.log(
    `Mix: ${cycle} cycles — ${counts.chatTurns} chat turns, ${counts.chatCancelled} stopped mid-answer, ${counts.chatResets} new chats, ` +
      `${counts.completions} completion requests (${counts.completionsCancelled} superseded by the next keystroke), ${counts.cacheResets} completion cache resets.`,
  );
  console.log(
    table(
      ["requests", "errors", "crashes", "RSS start MB", "RSS end MB", "RSS drift", "p95 first ms", "p95 last ms", "p95 drift", "KV cells max", "context"],
      [
        [
          requests,
          errors,
          crashes,
          result.rssMB.start,
          result.rssMB.end,
          `${round(rssDrift, 2)}%`,
          result.p95Ms.first,
          result.p95Ms.last,
          `${round(p95Drift, 1)}%`,
          kvCellsMax,
          realContextSize,
        ],
      ],
    ),
  );
  console.log(`Samples: ${first.length} latencies in the first fifth, ${last.length} in the last.`);
  console.log(
    `Lowest server RSS in the first / last fifth: ${rssFloor.firstFifth} / ${rssFloor.lastFifth} MB (${round(((rssFloor.lastFifth - rssFloor.firstFifth) / rssFloor.firstFifth) * 100, 2)}%)`,
  );
  console.log(`Server memory over the run (minute: RSS MB / JS heap MB): ${series.map((p) => `${p.minute}: ${p.rssMB} / ${p.jsHeapMB}`).join(", ")}`);
  for (const sampleError of errorSamples) console.log(`error: ${sampleError}`);
  if (json) console.log(JSON.stringify({ ...result, rssFloorMB: rssFloor, memorySeries: series }));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
