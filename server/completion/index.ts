// Inline completions: the standard LSP `textDocument/inlineCompletion` (vscode-languageclient
// registers VS Code's provider from the `inlineCompletionProvider` capability), answered by the
// CompletionService on its own StreamingLLM sequence, plus `streamsink/completion/stats`.
import { ResponseError } from "vscode-languageserver/node";
import { DisposableStore, type Disposable } from "../../common/disposable";
import {
  completionWindowChars,
  bench,
  ErrorCodes,
  InlineCompletionWindowRequest,
  type InlineCompletionWindowParams,
} from "../../common/protocol";
import { check, int, isInteger, isRecord, object, refine, string, withMessage } from "../../common/validate";
import { maxEventLoopStallMs, resetEventLoopStall, startEventLoopMonitor } from "../eventLoop";
import type { ServerContext } from "../feature";
import { errorMessage } from "../log";
import { CompletionService } from "./service";

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

export function register({ connection, engine, log, sequences, documents }: ServerContext): Disposable {
  startEventLoopMonitor();
  const features = new DisposableStore();
  const service = new CompletionService(engine, log, documents);
  features.add(engine.addListener(service));
  features.add(sequences.add({ label: "completion", stats: () => service.sequenceStats(), reset: () => service.reset() }));
  features.add(documents.onDidClose((event) => service.documentClosed(event.document.uri)));
  features.add(connection.languages.inlineCompletion.on(async (params, token) => {
    try {
      return await service.complete(params, token);
    } catch (error) {
      // Never fail a keystroke: log it and show nothing.
      log.error(`Inline completion failed: ${errorMessage(error)}`);
      return null;
    }
  }));
  features.add(connection.onRequest(InlineCompletionWindowRequest.type, async (raw, token) => {
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
  }));
  features.add(connection.onRequest(bench.CompletionStatsRequest.type, (params) => {
    const sinceId = isRecord(params) && isInteger(params.sinceId, 0, Number.MAX_SAFE_INTEGER) ? params.sinceId : 0;
    const stats = { ...service.stats(sinceId), maxEventLoopStallMs: maxEventLoopStallMs() };
    if (isRecord(params) && params.resetEventLoopStall === true) resetEventLoopStall();
    return stats;
  }));
  return features;
}
