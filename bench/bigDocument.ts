// bench:complete --document-mb N: inline completions in one huge one-line (minified) document, through
// the real server process, acting as StreamSink's client does (src/completion/hugeDocuments.ts):
// a document over maxSyncedDocumentChars is not synced, and each completion is asked for with a
// bounded window around the cursor; a smaller one is opened and changed incrementally. Types at the
// document's end and in its middle, asks for a completion after each burst, and reads the server's
// longest event-loop stall (`maxEventLoopStallMs`, measured in the server with perf_hooks; reset
// once the model has loaded, so it covers opening, changing and completing only). `--sync-whole`
// sends the whole document anyway (what a client without the gate would do).
import {
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  type Position,
} from "vscode-languageserver-protocol/node";
import {
  completionWindow,
  bench,
  InlineCompletionWindowRequest,
  maxSyncedDocumentChars,
} from "../common/protocol";
import type { Settings } from "../common/settings";
import { firstItem } from "../test/support/inlineCompletion";
import { prng } from "../test/support/random";
import { percentile, round } from "./cli";
import { startBenchServer } from "./server";

/** A one-line minified script of `chars` characters (seeded, so every run edits the same text). */
export function minifiedDocument(chars: number, seed = 1): string {
  const rand = prng(seed);
  const parts: string[] = [];
  let length = 0;
  for (let i = 0; length < chars; i++) {
    const a = Math.floor(rand() * 1000);
    const part =
      `function f${i}(a,b){var c=a*${a}+b;if(c>${a})return c-b;for(var d=0;d<${i % 17};d++)c+=d;return c}` +
      `var v${i}=f${i}(${a},${i});`;
    parts.push(part);
    length += part.length;
  }
  return parts.join("").slice(0, chars);
}

export interface BigDocumentResult {
  documentMB: number;
  documentChars: number;
  /** Whether the server was sent the whole document (false: windows only, as the client does). */
  synced: boolean;
  openMs: number;
  requests: number;
  completed: number;
  suggestions: number;
  p50Ms: number;
  maxMs: number;
  promptTokensMax: number;
  rssMB: number;
  /** The stall of the first completion after the load (context creation), before the document. */
  warmupStallMs: number;
  maxEventLoopStallMs: number;
}

export async function runBigDocument(
  settings: Settings,
  documentMB: number,
  log: (line: string) => void,
  syncWhole = false,
): Promise<BigDocumentResult> {
  const server = await startBenchServer(settings);
  try {
    // The first completion creates the completion context and sequence (a one-time stall that does
    // not depend on any document): one on a small document first, its stall reported apart.
    await server.connection.sendRequest(bench.CompletionStatsRequest.type, { resetEventLoopStall: true });
    await server.connection.sendRequest(InlineCompletionWindowRequest.type, { uri: "file:///bench/warmup.js", text: "var a=1;", offset: 8 });
    const warmup = await server.connection.sendRequest(bench.CompletionStatsRequest.type, { resetEventLoopStall: true });
    const warmupStallMs = warmup.maxEventLoopStallMs ?? -1;
    const sinceId = warmup.recent.at(-1)?.id ?? 0;
    log(`  warm-up completion (creates the completion context): event loop stall ${warmupStallMs} ms`);
    // From here on: only what the document and the completions do to the server's event loop.
    let text = minifiedDocument(Math.round(documentMB * 1024 * 1024));
    const uri = "file:///bench/minified.min.js";
    let version = 1;
    const synced = syncWhole || text.length <= maxSyncedDocumentChars;
    const opened = performance.now();
    if (synced) {
      await server.connection.sendNotification(DidOpenTextDocumentNotification.type, {
        textDocument: { uri, languageId: "javascript", version, text },
      });
    }
    // A round trip: the open has been handled when the stats answer arrives.
    const openStall = (await server.connection.sendRequest(bench.CompletionStatsRequest.type, { resetEventLoopStall: true })).maxEventLoopStallMs ?? -1;
    const openMs = performance.now() - opened;
    let maxStall = openStall;
    log(`  ${synced ? "opened" : "kept (not synced)"} ${text.length} chars in ${round(openMs, 1)} ms (send + handle), stall ${openStall} ms`);

    const latencies: number[] = [];
    let suggestions = 0;
    // One line: a position is its character offset.
    const at = (offset: number): Position => ({ line: 0, character: offset });
    for (const place of ["end", "middle"] as const) {
      // The document is `text` with `inserted` typed at `insertAt` (joined once per place): like the
      // editor's piece tree, so the bench does not copy 5 MB per keystroke (its CPU would be taken
      // from the server's on this 2-core machine).
      const insertAt = place === "end" ? text.length : text.length >> 1;
      let inserted = "";
      const slice = (start: number, end: number) => {
        const at0 = insertAt;
        const head = start < at0 ? text.slice(start, Math.min(end, at0)) : "";
        const mid = inserted.slice(Math.max(0, start - at0), Math.max(0, end - at0));
        const tail = end > at0 + inserted.length ? text.slice(Math.max(at0, start - inserted.length), end - inserted.length) : "";
        return head + mid + tail;
      };
      let cursor = insertAt;
      for (const typed of ["var x=", "f1(", "return "]) {
        for (const ch of typed) {
          inserted += ch;
          version++;
          if (synced) {
            await server.connection.sendNotification(DidChangeTextDocumentNotification.type, {
              textDocument: { uri, version },
              contentChanges: [{ range: { start: at(cursor), end: at(cursor) }, text: ch }],
            });
          }
          cursor++;
        }
        const sent = performance.now();
        let result;
        if (synced) {
          result = await server.connection.sendRequest(InlineCompletionRequest.type, {
            textDocument: { uri },
            position: at(cursor),
            context: { triggerKind: InlineCompletionTriggerKind.Invoked },
          });
        } else {
          const window = completionWindow({ length: text.length + inserted.length }, cursor);
          result = await server.connection.sendRequest(InlineCompletionWindowRequest.type, {
            uri,
            text: slice(window.start, window.end),
            offset: cursor - window.start,
          });
        }
        const ms = performance.now() - sent;
        latencies.push(ms);
        const suggestion = firstItem(result);
        if (suggestion !== undefined) suggestions++;
        // The stall since the previous line (typing, the request, its answer): reset, the maximum kept.
        const stall = (await server.connection.sendRequest(bench.CompletionStatsRequest.type, { resetEventLoopStall: true })).maxEventLoopStallMs ?? -1;
        maxStall = Math.max(maxStall, stall);
        log(
          `  ${place.padEnd(6)} after ${JSON.stringify(typed).padEnd(10)} ${String(round(ms, 1)).padStart(6)} ms, stall ${String(stall).padStart(5)} ms → ` +
            JSON.stringify((suggestion ?? "").slice(0, 40)),
        );
      }
      text = [text.slice(0, insertAt), inserted, text.slice(insertAt)].join("");
    }
    const stats = await server.connection.sendRequest(bench.CompletionStatsRequest.type, { sinceId });
    const completed = stats.recent.filter((record) => record.outcome === "completed");
    return {
      documentMB,
      documentChars: text.length,
      synced,
      openMs: round(openMs, 1),
      requests: latencies.length,
      completed: completed.length,
      suggestions,
      p50Ms: round(percentile(latencies, 50), 1),
      maxMs: round(percentile(latencies, 100), 1),
      promptTokensMax: completed.reduce((most, record) => Math.max(most, record.promptTokens), 0),
      rssMB: round(stats.rssBytes / 1048576, 1),
      warmupStallMs,
      maxEventLoopStallMs: Math.max(maxStall, stats.maxEventLoopStallMs ?? -1),
    };
  } finally {
    await server.stop();
  }
}
