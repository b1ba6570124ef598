// What the extension posts to the chat webview, built from the store: the chrome (ViewState, whose
// size does not depend on the chat's length), pages of messages, one message when it is added or
// changes, tokens, the window state with its boundary as an index, search results. Never the whole
// transcript: an update costs the same at message 10,000 as at message 10. No `vscode` import
// (chatView.ts wires it to the webview; bench/chatview.ts feeds a real page with it).
import { chatMessageLimits, type SearchHit, type ToWebview, type ViewMessage, type ViewState } from "../../common/chatMessages";
import { boundaryIndex, type ViewWindow } from "../../common/chatWindow";
import type { ChatWindowState } from "../../common/protocol";
import type { ChatStore, StoredChat, StoredMessage } from "./store";

/** Messages sent when a chat is shown (the webview asks for older ones as the user scrolls up). */
export const firstPageSize = 40;

export function viewMessage(message: StoredMessage, index: number): ViewMessage {
  return {
    id: message.id,
    index,
    role: message.role,
    text: message.text,
    attachments: message.attachments ?? [],
    pinned: message.pinned === true,
    status: message.status,
    ...(message.error !== undefined ? { error: message.error } : {}),
    ...(message.model !== undefined ? { model: message.model } : {}),
    ...(message.cancelReason !== undefined ? { cancelReason: message.cancelReason } : {}),
  };
}

/** The chrome besides what the store knows. */
export interface ViewChrome {
  attachments: string[];
  streamingId?: string;
  server: ViewState["server"];
  /** The window state to show, when the server reported one for this chat (else the stored one). */
  window?: ChatWindowState;
}

export class ChatViewSync {
  constructor(
    private readonly store: ChatStore,
    private readonly post: (message: ToWebview) => void,
  ) {}

  /** The window state with its boundary as an index of the chat. */
  viewWindow(chatId: string, window: ChatWindowState): ViewWindow {
    const chat = this.store.get(chatId);
    const archived = chat?.archived ?? 0;
    const ids = chat?.messages.map((message) => message.id) ?? [];
    // A boundary older than the live messages: the archive is outside.
    return { ...window, boundary: boundaryIndex(window, ids, archived, archived) };
  }

  state(chat: StoredChat, chrome: ViewChrome): ViewState {
    const window = chrome.window ?? chat.window;
    const archived = chat.archived ?? 0;
    const pinned = [
      ...(chat.archivedPins ?? []).map((record) => ({ id: record.message.id, index: record.index })),
      ...chat.messages.flatMap((message, i) => (message.pinned ? [{ id: message.id, index: archived + i }] : [])),
    ];
    return {
      chats: this.store.list(chatMessageLimits.list),
      chatId: chat.id,
      title: chat.title,
      total: this.store.count(chat.id),
      pinned: pinned.slice(-chatMessageLimits.list),
      attachments: chrome.attachments,
      ...(chrome.streamingId !== undefined ? { streamingId: chrome.streamingId } : {}),
      server: chrome.server,
      ...(window && window.chatId === chat.id ? { window: this.viewWindow(chat.id, window) } : {}),
    };
  }

  postState(chat: StoredChat, chrome: ViewChrome): void {
    this.post({ type: "state", state: this.state(chat, chrome) });
  }

  /** Messages [start, start + count), archive included. */
  async postPage(chatId: string, start: number, count: number): Promise<void> {
    const messages = await this.store.range(chatId, start, start + Math.min(count, chatMessageLimits.page));
    const from = Math.max(0, start);
    this.post({
      type: "page",
      chatId,
      start: from,
      total: this.store.count(chatId),
      messages: messages.map((message, i) => viewMessage(message, from + i)),
    });
  }

  /** The newest messages: what is shown when a chat is opened or the view (re)loads. */
  postNewest(chatId: string): Promise<void> {
    return this.postPage(chatId, Math.max(0, this.store.count(chatId) - firstPageSize), firstPageSize);
  }

  /** One message, after it was added or changed. */
  postMessage(chatId: string, messageId: string): void {
    const found = this.store.find(chatId, messageId);
    if (!found) return;
    this.post({ type: "message", chatId, total: this.store.count(chatId), message: viewMessage(found.message, found.index) });
  }

  postToken(chatId: string, messageId: string, delta: string): void {
    this.post({ type: "token", chatId, messageId, delta });
  }

  /** A window update from the server: remembered with the chat (shown at once after a reload) and posted. */
  postWindow(window: ChatWindowState): void {
    this.store.setWindow(window.chatId, window);
    this.post({ type: "window", window: this.viewWindow(window.chatId, window) });
  }

  async postSearch(chatId: string, query: string): Promise<void> {
    const { hits, more } = await this.store.search(chatId, query, chatMessageLimits.hits);
    const bounded: SearchHit[] = hits.map((hit) => ({ ...hit, snippet: hit.snippet.slice(0, 400) }));
    this.post({ type: "searchResults", chatId, query, hits: bounded, more });
  }
}
