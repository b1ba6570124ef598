// Documents too large to sync (common/protocol/completion.ts `maxSyncedDocumentChars`): parsing a multi-megabyte
// didOpen alone blocks the server's event loop, so the client keeps them to itself. The didOpen,
// didChange and didClose middleware forward a document only while the server knows it; an inline
// completion in one that it does not know is asked for with a bounded window around the cursor
// (InlineCompletionWindowRequest). A server restart re-opens every document through didOpen, so the
// set is rebuilt with the sizes of that moment.
import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";
import {
  completionWindow,
  InlineCompletionWindowRequest,
  maxSyncedDocumentChars,
} from "../../common/protocol";
import type { ServerConnection } from "../client";
import { log } from "../log";

export class DocumentSyncGate implements vscode.Disposable {
  /** URIs the server has been sent a didOpen for (and no didClose since). */
  private readonly synced = new Set<string>();

  constructor(private readonly connection: ServerConnection) {
    const middleware = connection.middleware;
    middleware.didOpen = async (document, next) => {
      const uri = document.uri.toString();
      if (document.getText().length > maxSyncedDocumentChars) {
        this.synced.delete(uri);
        log.debug(`${uri} has more than ${maxSyncedDocumentChars} characters: not synced; completions use a window around the cursor.`);
        return;
      }
      this.synced.add(uri);
      await next(document);
    };
    middleware.didChange = async (event, next) => {
      if (this.synced.has(event.document.uri.toString())) await next(event);
    };
    middleware.didClose = async (document, next) => {
      if (this.synced.delete(document.uri.toString())) await next(document);
    };
  }

  isSynced(document: vscode.TextDocument): boolean {
    return this.synced.has(document.uri.toString());
  }

  /** An inline completion in a document the server does not hold: sent as a bounded window. */
  async completeInWindow(
    document: vscode.TextDocument,
    position: vscode.Position,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | null> {
    const client = this.connection.running;
    if (client === undefined) return null;
    const text = document.getText();
    const offset = document.offsetAt(position);
    const { start, end } = completionWindow(text, offset);
    const result = await client.sendRequest(
      InlineCompletionWindowRequest.type,
      { uri: document.uri.toString(), text: text.slice(start, end), offset: offset - start },
      token,
    );
    if (result === null || token.isCancellationRequested) return null;
    return result.items.map((item) => new vscode.InlineCompletionItem(item.insertText, new vscode.Range(position, position)));
  }

  dispose(): void {
    const middleware: Middleware = this.connection.middleware;
    delete middleware.didOpen;
    delete middleware.didChange;
    delete middleware.didClose;
    this.synced.clear();
  }
}
