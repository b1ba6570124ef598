// Helpers for driving textDocument/inlineCompletion from tests and benchmarks.
import type { InlineCompletionItem, InlineCompletionList, Position } from "vscode-languageserver-protocol";

/** The LSP position of a character offset in `text`. */
export function positionAt(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const line = before.split("\n").length - 1;
  return { line, character: offset - (before.lastIndexOf("\n") + 1) };
}

/** The text of the first suggestion of an inline-completion answer, if any. */
export function firstItem(result: InlineCompletionList | InlineCompletionItem[] | null): string | undefined {
  if (result === null) return undefined;
  const items = Array.isArray(result) ? result : result.items;
  const text = items[0]?.insertText;
  return typeof text === "string" ? text : text?.value;
}
