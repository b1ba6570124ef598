// Inline completions on the client side. VS Code's provider is registered by vscode-languageclient
// from the server's `inlineCompletionProvider` capability; this middleware sits in front of it:
//   1. settings gating: nothing is sent when completions are off globally or for the language;
//   2. the suggestion LRU: typing the first characters of a suggestion shows the rest at once,
//      with no debounce and no server round trip;
//   3. debounce: automatic requests wait `streamsink.completions.debounceMs` and die with the next
//      keystroke (VS Code cancels the token), so most keystrokes never reach the server;
//   4. the request itself (the server's latest-wins queue and KV reuse do the rest).
// Manual trigger: `editor.action.inlineSuggest.trigger` (keybinding in package.json) skips the debounce.
import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";
import { completionsEnabledFor } from "../../common/settings";
import { SuggestionCache, type SuggestionKey } from "../../common/suggestionCache";
import type { FeatureContext } from "../feature";
import { cancellableDelay } from "./debounce";
import { DocumentSyncGate } from "./hugeDocuments";
import { errorMessage } from "../../common/errors";

function keyAt(document: vscode.TextDocument, position: vscode.Position): SuggestionKey {
  const offset = document.offsetAt(position);
  const window = SuggestionCache.prefixChars + SuggestionCache.maxSuggestionChars;
  const from = Math.max(0, offset - window);
  const suffixEnd = document.positionAt(offset + SuggestionCache.suffixChars);
  return {
    uri: document.uri.toString(),
    prefixTail: document.getText(new vscode.Range(document.positionAt(from), position)),
    prefixIsWhole: from === 0,
    suffixHead: document.getText(new vscode.Range(position, suffixEnd)),
  };
}

function firstText(
  result: vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined,
): string | undefined {
  const items = Array.isArray(result) ? result : result?.items;
  const insert = items?.[0]?.insertText;
  return typeof insert === "string" ? insert : insert?.value;
}

export function register({ server: connection, log }: FeatureContext): vscode.Disposable {
  const cache = new SuggestionCache(32);
  const gate = new DocumentSyncGate(connection);
  const provide: Middleware["provideInlineCompletionItems"] = async (
    document,
    position,
    context,
    token,
    next,
  ) => {
    const settings = connection.currentSettings.completions;
    if (!completionsEnabledFor(settings, document.languageId) || !connection.isReady) return null;
    const key = keyAt(document, position);
    const cached = cache.lookup(key);
    if (cached !== undefined) {
      return [new vscode.InlineCompletionItem(cached, new vscode.Range(position, position))];
    }
    if (context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic) {
      if (!(await cancellableDelay(settings.debounceMs, token))) return null;
    }
    try {
      const result = gate.isSynced(document)
        ? await next(document, position, context, token)
        : await gate.completeInWindow(document, position, token);
      const text = firstText(result);
      if (text !== undefined && !token.isCancellationRequested) cache.add(key, text);
      return result;
    } catch (error) {
      if (!token.isCancellationRequested) log.warn(`Inline completion: ${errorMessage(error)}`);
      return null;
    }
  };
  connection.middleware.provideInlineCompletionItems = provide;
  const closed = vscode.workspace.onDidCloseTextDocument((document) => cache.clear(document.uri.toString()));
  return new vscode.Disposable(() => {
    if (connection.middleware.provideInlineCompletionItems === provide) {
      delete connection.middleware.provideInlineCompletionItems;
    }
    closed.dispose();
    gate.dispose();
    cache.clear();
  });
}
