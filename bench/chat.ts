// Chat benchmark: a scripted conversation of N turns through the real server process
// (dist/server.js over IPC) in a small context, so the window overflows again and again.
//
//   npm run bench:chat -- --model ../shared/models/tinycoder-16m-q8_0.gguf --turns 300 --context 512 [--json]
//     [--max-tokens 20] [--threads 1] [--seed 1]
//
// Prints a table and, last, one JSON line:
//   {"turns","errors","contextSize","kvCellsMax","shifts","rssMB":{"start","end"},
//    "msPerToken":{"firstTurns","lastTurns"},"reevaluatedTokens"}
// turns: turns sent; errors: turns answered with an error; contextSize: the real context size;
// kvCellsMax: most KV cells the chat sequence held (checked after every token, server side);
// shifts: in-place evictions; rssMB: server process RSS after the first and after the last turn;
// msPerToken: server-side generation ms per generated token over the first and the last 10% of
// turns (at least 10 each); reevaluatedTokens: tokens evaluated more than once (the StreamingLLM
// engine's own count; 0 when every eviction is an in-place shift).
import { existsSync } from "node:fs";
import path from "node:path";
import { ChatSendRequest, bench, type ChatSendResult } from "../common/protocol";
import { startReadyServer } from "../test/support/serverProcess";
import { flag, int, machine, parseArgs, round, str, table } from "./cli";
import { maxOf } from "../common/arrays";
import { benchSettings } from "./server";

const prompts = [
  "Write a Python function that parses a CSV line.",
  "Now handle quoted fields.",
  "def merge_sorted(a, b):",
  "Explain what this does: `xs.sort(key=len)`",
  "class LRUCache:",
  "Add a get method with a default value.",
  "function debounce(fn, ms) {",
  "How do I read a file line by line in Node.js?",
  "Refactor it to use async iterators.",
  "import os\n\ndef walk(root):",
];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const model = path.resolve(str(args, "model"));
  if (!existsSync(model)) throw new Error(`Model file not found: ${model}`);
  const turns = int(args, "turns", 300);
  const context = int(args, "context", 512);
  const maxTokens = int(args, "max-tokens", 20);
  const threads = int(args, "threads", 1);
  const seed = int(args, "seed", 1);
  const json = flag(args, "json");
  const say = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };

  const server = await startReadyServer(benchSettings({ model, context, threads, gpuLayers: 0 }), { timeoutMs: 120_000 });
  try {
    const results: ChatSendResult[] = [];
    let errors = 0;
    let rssStart = 0;
    for (let turn = 0; turn < turns; turn++) {
      try {
        const result = await server.connection.sendRequest(ChatSendRequest.type, {
          chatId: "bench",
          userMessageId: `u${turn}`,
          assistantMessageId: `a${turn}`,
          text: `${prompts[turn % prompts.length]} (turn ${turn + 1})`,
          history: [],
          maxTokens,
          temperature: 0.8,
          seed: seed + turn,
        });
        results.push(result);
      } catch (error) {
        errors++;
        say(`turn ${turn + 1}: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (turn === 0) rssStart = (await server.connection.sendRequest(bench.ChatStateRequest.type, {})).rssBytes;
      if (!json && (turn + 1) % 50 === 0) say(`… ${turn + 1} turns`);
    }
    const state = await server.connection.sendRequest(bench.ChatStateRequest.type, {});
    const stats = state.stats;
    const n = Math.max(10, Math.ceil(results.length / 10));
    const msPerToken = (slice: ChatSendResult[]) => {
      const tokens = slice.reduce((sum, r) => sum + r.generatedTokens, 0);
      const ms = slice.reduce((sum, r) => sum + r.generationMs, 0);
      return tokens > 0 ? round(ms / tokens, 2) : 0;
    };
    const out = {
      turns,
      errors,
      contextSize: stats?.contextSize ?? 0,
      kvCellsMax: maxOf(results.map((r) => r.kvCellsMax)),
      shifts: stats?.shifts ?? 0,
      rssMB: { start: round(rssStart / 2 ** 20, 1), end: round(state.rssBytes / 2 ** 20, 1) },
      msPerToken: { firstTurns: msPerToken(results.slice(0, n)), lastTurns: msPerToken(results.slice(-n)) },
      reevaluatedTokens: stats?.reevaluatedTokens ?? 0,
    };
    const m = machine();
    say(`Chat benchmark: ${path.basename(model)}, ${turns} turns, context ${out.contextSize}, ≤${maxTokens} tokens per answer, ${threads} thread(s)`);
    say(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memGB} GB, Node ${m.node}`);
    say(
      table(
        ["metric", "value"],
        [
          ["turns / errors", `${out.turns} / ${out.errors}`],
          ["context size", out.contextSize],
          ["KV cells max (≤ context)", out.kvCellsMax],
          ["sink tokens (template)", stats?.sinks ?? 0],
          ["shifts (in place)", out.shifts],
          ["tokens evicted", stats?.tokensEvicted ?? 0],
          ["stream tokens (appended once each)", stats?.tokensSeen ?? 0],
          ["generated tokens", results.reduce((sum, r) => sum + r.generatedTokens, 0)],
          ["RSS MB (after turn 1 → end)", `${out.rssMB.start} → ${out.rssMB.end}`],
          [`ms/token, first ${n} turns`, out.msPerToken.firstTurns],
          [`ms/token, last ${n} turns`, out.msPerToken.lastTurns],
          ["re-evaluated tokens", out.reevaluatedTokens],
          ["messages outside the window at the end", state.window?.outsideCount ?? 0],
        ],
      ),
    );
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await server.stop();
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
