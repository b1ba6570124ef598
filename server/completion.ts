// Inline completions: the standard LSP `textDocument/inlineCompletion` (vscode-languageclient
// registers VS Code's provider from the `inlineCompletionProvider` capability), answered by the
// CompletionService on its own StreamingLLM sequence, plus `streamsink/completion/stats`.
import type { Connection, TextDocuments } from "vscode-languageserver/node";
import type { TextDocument } from "vscode-languageserver-textdocument";
import { CompletionStatsRequest } from "../common/protocol";
import { isInteger, isRecord } from "../common/validate";
import { CompletionService } from "./completion/service";
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

export function registerCompletions({ connection, engine, log, sequences, documents }: CompletionDeps): CompletionService {
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
  connection.onRequest(CompletionStatsRequest.type, (params) => {
    const sinceId = isRecord(params) && isInteger(params.sinceId, 0, Number.MAX_SAFE_INTEGER) ? params.sinceId : 0;
    return service.stats(sinceId);
  });
  return service;
}
