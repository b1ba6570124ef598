// The messages between the chat webview (src/webview/chat) and the extension (src/chat), typed on both
// sides and validated on receipt: a webview is a web page, so nothing it posts is trusted, and the
// webview checks what it gets as well. Pure: no `vscode`, no DOM.
import type { ViewWindow } from "./chatWindow";
import type { ChatCancelReason, ServerState } from "./protocol";
import { boolean, int, isInteger, isRecord, isString, object, oneOf, parse, refine, string, tagged } from "./validate";

export const chatMessageLimits = {
  id: 128,
  /** Characters of a typed message. */
  text: 100_000,
  /** Characters of a code block sent back for Copy / Insert. */
  code: 1_000_000,
  attachments: 16,
  /** Messages in one page (scroll-back) request or answer. */
  page: 100,
  /** Characters of a search query. */
  query: 200,
  /** Search hits sent back. */
  hits: 100,
  /** Chats listed, pinned messages listed. */
  list: 200,
} as const;

// ---- webview → extension ----

export type FromWebview =
  /** The webview's script is running and listening; the extension posts nothing before this. */
  | { type: "ready" }
  | { type: "send"; text: string }
  | { type: "stop" }
  | { type: "openChat"; chatId: string }
  | { type: "deleteChat"; chatId: string }
  | { type: "pin"; messageId: string; pinned: boolean }
  | { type: "copy"; text: string }
  | { type: "insert"; text: string }
  | { type: "attach"; what: "selection" | "file" }
  | { type: "removeAttachment"; index: number }
  | { type: "openSettings" }
  /** Messages [start, start + count) of the chat (scroll-back, a search hit, a pinned message). */
  | { type: "page"; chatId: string; start: number; count: number }
  /** Finds the messages of the chat that contain `query` (the extension searches the stored data, archive included). */
  | { type: "search"; chatId: string; query: string };

const isId = (value: unknown): value is string => isString(value, chatMessageLimits.id) && value.length > 0;

const id = string(chatMessageLimits.id, 1);
const nonEmpty = (max: number) => refine(string(max), (text) => text.trim() !== "", "must not be empty");
const codeText = object({ text: string(chatMessageLimits.code) });
const openChat = object({ chatId: id });

const fromWebview = tagged({
  ready: object({}),
  stop: object({}),
  openSettings: object({}),
  send: object({ text: nonEmpty(chatMessageLimits.text) }),
  openChat,
  deleteChat: openChat,
  pin: object({ messageId: id, pinned: boolean }),
  copy: codeText,
  insert: codeText,
  attach: object({ what: oneOf("selection", "file") }),
  removeAttachment: object({ index: int(0, chatMessageLimits.attachments - 1) }),
  page: object({ chatId: id, start: int(0, Number.MAX_SAFE_INTEGER), count: int(1, chatMessageLimits.page) }),
  search: object({ chatId: id, query: string(chatMessageLimits.query) }),
});

/** The typed message, or undefined for anything malformed (which the extension logs and drops). */
export function parseFromWebview(raw: unknown): FromWebview | undefined {
  return parse(fromWebview, raw);
}

// ---- extension → webview ----

export interface ViewMessage {
  id: string;
  /** Where it is in the chat (0 = the first message ever, archived ones included). */
  index: number;
  role: "user" | "assistant";
  /** For the user: what they typed. For the assistant: the (Markdown) answer, possibly partial. */
  text: string;
  /** Names of what was attached to a user message ("app.ts:10-24", "utils.py"). */
  attachments: string[];
  pinned: boolean;
  status: "done" | "streaming" | "cancelled" | "error";
  /** Why an answer failed, for the user. */
  error?: string;
  /** Assistant messages: the model that answered. */
  model?: string;
  /** With status "cancelled": why. */
  cancelReason?: ChatCancelReason;
}

export interface SearchHit {
  id: string;
  index: number;
  snippet: string;
}

export interface ViewChatSummary {
  id: string;
  title: string;
  updatedAt: number;
  messageCount: number;
}

/** The view's chrome: posted when it changes. Its size does not depend on the chat's length: the
 * messages travel in pages and deltas. */
export interface ViewState {
  chats: ViewChatSummary[];
  chatId: string;
  title: string;
  /** Messages in the chat. */
  total: number;
  /** Pinned messages (for "jump to pinned"), oldest first. */
  pinned: { id: string; index: number }[];
  /** Attachments waiting for the next message. */
  attachments: string[];
  /** Id of the answer being generated, if any. */
  streamingId?: string;
  server: { state: ServerState; message: string; modelName?: string };
  window?: ViewWindow;
}

export type ToWebview =
  | { type: "state"; state: ViewState }
  /** Consecutive messages from `start` (the newest page when a chat is shown; older ones on request). */
  | { type: "page"; chatId: string; start: number; total: number; messages: ViewMessage[] }
  /** A message added or changed (status, pin, final text). */
  | { type: "message"; chatId: string; total: number; message: ViewMessage }
  | { type: "token"; chatId: string; messageId: string; delta: string }
  | { type: "window"; window: ViewWindow }
  | { type: "searchResults"; chatId: string; query: string; hits: SearchHit[]; more: boolean }
  | { type: "notice"; level: "info" | "error"; text: string };

const serverStates: readonly ServerState[] = ["starting", "noModel", "loading", "ready", "error"];
const statuses: readonly ViewMessage["status"][] = ["done", "streaming", "cancelled", "error"];
const cancelReasons: readonly ChatCancelReason[] = ["stop", "settingsChanged", "modelChanged", "reset", "serverRestarted", "reload"];
const isCount = (value: unknown): value is number => isInteger(value, 0, Number.MAX_SAFE_INTEGER);

function isStringArray(value: unknown, max: number): value is string[] {
  return Array.isArray(value) && value.length <= max && value.every((item) => typeof item === "string");
}

function isViewMessage(value: unknown): value is ViewMessage {
  return (
    isRecord(value) &&
    isId(value.id) &&
    isCount(value.index) &&
    (value.role === "user" || value.role === "assistant") &&
    typeof value.text === "string" &&
    isStringArray(value.attachments, chatMessageLimits.attachments) &&
    typeof value.pinned === "boolean" &&
    statuses.includes(value.status as ViewMessage["status"]) &&
    (value.error === undefined || typeof value.error === "string") &&
    (value.model === undefined || typeof value.model === "string") &&
    (value.cancelReason === undefined || cancelReasons.includes(value.cancelReason as ChatCancelReason))
  );
}

function isHit(value: unknown): value is SearchHit {
  return isRecord(value) && isId(value.id) && isCount(value.index) && typeof value.snippet === "string";
}

function isPinnedRef(value: unknown): value is { id: string; index: number } {
  return isRecord(value) && isId(value.id) && isCount(value.index);
}

function isSummary(value: unknown): value is ViewChatSummary {
  return (
    isRecord(value) &&
    isId(value.id) &&
    typeof value.title === "string" &&
    typeof value.updatedAt === "number" &&
    isInteger(value.messageCount, 0, Number.MAX_SAFE_INTEGER)
  );
}

function isWindow(value: unknown): value is ViewWindow {
  if (!isRecord(value) || !isId(value.chatId)) return false;
  const lists = ["outsideAfter", "partial", "pinnedInSink", "pinnedPending"] as const;
  const numbers = ["boundary", "outsideCount", "pinnedTokens", "pinBudget", "templateSinks", "kvCells", "contextSize", "shifts", "tokensEvicted"] as const;
  return (
    (value.firstInWindow === undefined || isId(value.firstInWindow)) &&
    lists.every((key) => isStringArray(value[key], chatMessageLimits.list)) &&
    numbers.every((key) => isInteger(value[key], 0, Number.MAX_SAFE_INTEGER))
  );
}

function isViewState(value: unknown): value is ViewState {
  if (!isRecord(value)) return false;
  const server = value.server;
  return (
    Array.isArray(value.chats) &&
    value.chats.length <= chatMessageLimits.list &&
    value.chats.every(isSummary) &&
    isId(value.chatId) &&
    typeof value.title === "string" &&
    isCount(value.total) &&
    Array.isArray(value.pinned) &&
    value.pinned.length <= chatMessageLimits.list &&
    value.pinned.every(isPinnedRef) &&
    isStringArray(value.attachments, chatMessageLimits.attachments) &&
    (value.streamingId === undefined || isId(value.streamingId)) &&
    isRecord(server) &&
    serverStates.includes(server.state as ServerState) &&
    typeof server.message === "string" &&
    (server.modelName === undefined || typeof server.modelName === "string") &&
    (value.window === undefined || isWindow(value.window))
  );
}

/** The typed message, or undefined for anything malformed (the webview ignores it). */
export function parseToWebview(raw: unknown): ToWebview | undefined {
  if (!isRecord(raw) || typeof raw.type !== "string") return undefined;
  switch (raw.type) {
    case "state":
      return isViewState(raw.state) ? { type: "state", state: raw.state } : undefined;
    case "token":
      return isId(raw.chatId) && isId(raw.messageId) && typeof raw.delta === "string"
        ? { type: "token", chatId: raw.chatId, messageId: raw.messageId, delta: raw.delta }
        : undefined;
    case "window":
      return isWindow(raw.window) ? { type: "window", window: raw.window } : undefined;
    case "page":
      return isId(raw.chatId) &&
        isCount(raw.start) &&
        isCount(raw.total) &&
        Array.isArray(raw.messages) &&
        raw.messages.length <= chatMessageLimits.page &&
        raw.messages.every(isViewMessage)
        ? { type: "page", chatId: raw.chatId, start: raw.start, total: raw.total, messages: raw.messages }
        : undefined;
    case "message":
      return isId(raw.chatId) && isCount(raw.total) && isViewMessage(raw.message)
        ? { type: "message", chatId: raw.chatId, total: raw.total, message: raw.message }
        : undefined;
    case "searchResults":
      return isId(raw.chatId) &&
        typeof raw.query === "string" &&
        Array.isArray(raw.hits) &&
        raw.hits.length <= chatMessageLimits.hits &&
        raw.hits.every(isHit) &&
        typeof raw.more === "boolean"
        ? { type: "searchResults", chatId: raw.chatId, query: raw.query, hits: raw.hits, more: raw.more }
        : undefined;
    case "notice":
      return (raw.level === "info" || raw.level === "error") && typeof raw.text === "string"
        ? { type: "notice", level: raw.level, text: raw.text }
        : undefined;
    default:
      return undefined;
  }
}

/** Logged when Stop reaches the extension or the server after the answer had already ended (a complete answer is rightly not "Stopped"). */
export const lateStopLog = "Chat: Stop arrived after the answer had finished";
