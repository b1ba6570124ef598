// Inline completions in huge documents. A document larger than `maxSyncedDocumentChars` is never
// synced to the server (parsing a multi-megabyte didOpen alone blocks the server's event loop): the
// client keeps it to itself and asks for completions with a bounded window of the text around the
// cursor instead. The completions themselves use the standard LSP `textDocument/inlineCompletion`.
// Part of the StreamSink protocol (common/protocol/index.ts).
import { RequestType } from "vscode-languageserver-protocol";

/** Documents longer than this (characters) are not synced; completions in them use windows. */
export const maxSyncedDocumentChars = 512 * 1024;
/** Characters of a completion window before and after the cursor (the prompt needs far fewer). */
export const completionWindowChars = { before: 64 * 1024, after: 8 * 1024 } as const;
/** Window starts are multiples of this, so consecutive keystrokes share one (KV cache reuse). */
export const completionWindowGrid = 4096;

export interface InlineCompletionWindowParams {
  /** The document's URI (keys the server's per-document state). */
  uri: string;
  /** text[offset] is the cursor; text is a window of the document (at most before + after chars). */
  text: string;
  offset: number;
}

/** Sent by the client: an inline completion in a window of an unsynced (huge) document. */
export namespace InlineCompletionWindowRequest {
  export const method = "streamsink/completion/window" as const;
  export const type = new RequestType<InlineCompletionWindowParams, { items: { insertText: string }[] } | null, void>(method);
}

/** The window of `text` sent for a cursor at `offset`: grid-aligned start, bounded both ways. */
export function completionWindow(text: { readonly length: number }, offset: number): { start: number; end: number } {
  const start = Math.max(0, Math.floor((offset - completionWindowChars.before) / completionWindowGrid) * completionWindowGrid);
  return { start, end: Math.min(text.length, offset + completionWindowChars.after) };
}
