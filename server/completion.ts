// Inline completions: the standard LSP `textDocument/inlineCompletion` (vscode-languageclient
// registers VS Code's provider from the `inlineCompletionProvider` capability), answered by the
// CompletionService on its own StreamingLLM sequence, plus `streamsink/completion/stats`.
import { ResponseError, type Connection, type TextDocuments } from "vscode-languageserver/node";
import type { TextDocument } from "vscode-languageserver-textdocument";
import {
  completionWindowChars,
  bench,
  ErrorCodes,
  InlineCompletionWindowRequest,
  type InlineCompletionWindowParams,
} from "../common/protocol";
import { check, int, isInteger, isRecord, object, refine, string, withMessage } from "../common/validate";
import { CompletionService } from "./completion/service";
import { maxEventLoopStallMs, resetEventLoopStall, startEventLoopMonitor } from "./eventLoop";
import type { Engine } from "./engine";
import { errorMessage, type Logger } from "./log";
import type { SequenceRegistry } from "./sequences";

export interface CompletionDeps {
  connection: Connection;
  engine: Engine;
  log: Logger;
  sequences: SequenceRegistry;
  documents: TextDocuments<TextDocument>;
}

/** Longest window text accepted (the client sends at most before + after characters). */
const windowLimit = completionWindowChars.before + completionWindowChars.after + 65_536;

const windowParams = withMessage(
  refine(
    object({ uri: string(4096), text: string(windowLimit), offset: int(0, Number.MAX_SAFE_INTEGER) }),
    (params) => params.offset <= params.text.length,
    "offset past the text",
  ),
  `${InlineCompletionWindowRequest.method} needs {uri: string, text: string of at most ${windowLimit} characters, offset: 0..text.length}.`,
);

export function registerCompletions({ connection, engine, log, sequences, documents }: CompletionDeps): CompletionService {
  startEventLoopMonitor();
  const service = new CompletionService(engine, log, documents);
  engine.addListener(service);
  sequences.add({ label: "completion", stats: () => service.sequenceStats(), reset: () => service.reset() });
  documents.onDidClose((event) => service.documentClosed(event.document.uri));
  connection.languages.inlineCompletion.on(async (params, token) => {
    try {
      return await service.complete(params, token);
    } catch (error) {
      // Never fail a keystroke: log it and show nothing.
      log.error(`Inline completion failed: ${errorMessage(error)}`);
      return null;
    }
  });
  connection.onRequest(InlineCompletionWindowRequest.type, async (raw, token) => {
    const checked = check(windowParams, raw);
    if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
    const params: InlineCompletionWindowParams = checked.value;
    try {
      const position = { line: 0, character: 0 };
      const list = await service.complete({ textDocument: { uri: params.uri }, position, context: { triggerKind: 1 } }, token, params);
      const text = (item: (typeof list & {})["items"][number]) => (typeof item.insertText === "string" ? item.insertText : item.insertText.value);
      return list === null ? null : { items: list.items.map((item) => ({ insertText: text(item) })) };
    } catch (error) {
      log.error(`Inline completion failed: ${errorMessage(error)}`);
      return null;
    }
  });
  connection.onRequest(bench.CompletionStatsRequest.type, (params) => {
    const sinceId = isRecord(params) && isInteger(params.sinceId, 0, Number.MAX_SAFE_INTEGER) ? params.sinceId : 0;
    const stats = { ...service.stats(sinceId), maxEventLoopStallMs: maxEventLoopStallMs() };
    if (isRecord(params) && params.resetEventLoopStall === true) resetEventLoopStall();
    return stats;
  });
  return service;
}
