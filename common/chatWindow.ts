// Which messages of a chat the model can no longer see, from the server's bounded window state
// (a boundary plus a few exceptions, common/protocol/chat.ts ChatWindowState). Pure: no `vscode`, no DOM.
import type { ChatWindowState } from "./protocol";

/** The window state as the chat view gets it: `boundary` is the index (in the whole chat, archived
 * messages included) of `firstInWindow`; messages before it are outside unless pinned. */
export interface ViewWindow extends ChatWindowState {
  boundary: number;
}

/** Whether the message at `index` with `id` is outside the window. */
export function outsideAt(window: ViewWindow, index: number, id: string): boolean {
  if (window.outsideAfter.includes(id)) return true;
  if (index >= window.boundary) return false;
  return !window.pinnedInSink.includes(id) && !window.pinnedPending.includes(id);
}

/** Where `window.firstInWindow` is among `ids` (the chat's messages from index `offset`, oldest first):
 * its index, 0 when no message has left, `fallback` when the boundary is not among them. */
export function boundaryIndex(window: ChatWindowState, ids: readonly string[], offset = 0, fallback = offset): number {
  if (window.firstInWindow === undefined) return 0;
  for (let i = ids.length - 1; i >= 0; i--) if (ids[i] === window.firstInWindow) return offset + i;
  return fallback;
}

/** The ids of `ids` (a whole chat, oldest first) that are outside the window. */
export function outsideIds(window: ChatWindowState, ids: readonly string[]): Set<string> {
  const view = { ...window, boundary: boundaryIndex(window, ids) };
  return new Set(ids.filter((id, index) => outsideAt(view, index, id)));
}
