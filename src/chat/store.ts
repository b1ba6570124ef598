// Persisted chat history: one JSON file per chat in the extension's global storage folder, so chats
// survive reloading the window and restarting VS Code. Written as an answer streams (coalesced to
// one write per chat every `saveDelayMs`) and at once when it ends. Bounded: the JSON holds the
// newest `liveLimit` messages (and the chat's last window state); older ones are appended to
// `<chat id>.archive.jsonl`, read again only for scroll-back and search. No `vscode` import: the
// storage is an interface (FolderStorage in storage.ts is the real one) so this module is tested on its own.
import type { ChatCancelReason, ChatWindowState } from "../../common/protocol";
import { RefusedFileError, type ChatStorage } from "./storage";

export { FolderStorage, type ChatStorage } from "./storage";

export interface StoredMessage {
  id: string;
  role: "user" | "assistant";
  /** What is shown: the typed text, or the answer (Markdown). */
  text: string;
  /** User messages: the text the model saw (attachments included), when it differs from `text`. */
  prompt?: string;
  attachments?: string[];
  pinned?: boolean;
  status: "done" | "streaming" | "cancelled" | "error";
  error?: string;
  /** Assistant messages: the model that answered (its display name). */
  model?: string;
  /** With status "cancelled": why. */
  cancelReason?: ChatCancelReason;
  createdAt: number;
}

export interface StoredChat {
  version: 1;
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  /** The newest messages (at most liveLimit); the older ones are in the archive. */
  messages: StoredMessage[];
  /** How many older messages were moved to `<id>.archive.jsonl` (index 0 .. archived-1). */
  archived?: number;
  /** Archived messages that are pinned (they are always sent to the server). */
  archivedPins?: ArchiveRecord[];
  /** The last window state the server reported, shown at once after a reload. */
  window?: ChatWindowState;
}

export interface ChatSummary {
  id: string;
  title: string;
  updatedAt: number;
  messageCount: number;
}

/** Messages kept in a chat's JSON; older ones go to the archive. */
export const liveLimit = 400;
const chatIdPattern = /^[A-Za-z0-9_-]{1,64}$/;

function isStoredMessage(m: unknown): m is StoredMessage {
  if (typeof m !== "object" || m === null) return false;
  const message = m as Partial<StoredMessage>;
  return typeof message.id === "string" && (message.role === "user" || message.role === "assistant") && typeof message.text === "string";
}

function isStoredChat(value: unknown): value is StoredChat {
  if (typeof value !== "object" || value === null) return false;
  const chat = value as Partial<StoredChat>;
  return (
    chat.version === 1 &&
    typeof chat.id === "string" &&
    chatIdPattern.test(chat.id) &&
    typeof chat.title === "string" &&
    typeof chat.createdAt === "number" &&
    typeof chat.updatedAt === "number" &&
    Array.isArray(chat.messages) &&
    chat.messages.every(isStoredMessage) &&
    (chat.archived === undefined || (Number.isSafeInteger(chat.archived) && chat.archived >= 0)) &&
    (chat.archivedPins === undefined ||
      (Array.isArray(chat.archivedPins) && chat.archivedPins.every((record) => Number.isSafeInteger(record?.index) && isStoredMessage(record.message))))
  );
}

export function newId(prefix = ""): string {
  return `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

/** A chat's title from its first message: one line, at most 60 characters. */
export function titleFrom(text: string): string {
  const line = text.trim().split(/\r?\n/)[0]?.trim() ?? "";
  if (line === "") return "New chat";
  return line.length > 60 ? `${line.slice(0, 57)}…` : line;
}

/** One line of `<chat id>.archive.jsonl`. */
export interface ArchiveRecord {
  index: number;
  message: StoredMessage;
}

const jsonName = (chatId: string) => `${chatId}.json`;
const archiveName = (chatId: string) => `${chatId}.archive.jsonl`;

/** A search hit: where the message is in the chat, and the text around the match. */
export interface SearchHit {
  id: string;
  index: number;
  snippet: string;
}

function snippetOf(text: string, at: number, length: number): string {
  const from = Math.max(0, at - 40);
  const to = Math.min(text.length, at + length + 60);
  return `${from > 0 ? "…" : ""}${text.slice(from, to).replace(/\s+/g, " ")}${to < text.length ? "…" : ""}`;
}

export class ChatStore {
  private readonly chats = new Map<string, StoredChat>();
  private readonly dirty = new Set<string>();
  /** Archived messages not written to the archive yet, per chat. */
  private readonly pendingArchive = new Map<string, ArchiveRecord[]>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** Files that could not be read (moved aside, or refused and left alone), for the user. */
  readonly problems: string[] = [];

  private constructor(
    private readonly storage: ChatStorage,
    private readonly saveDelayMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  static async open(
    storage: ChatStorage,
    options: { saveDelayMs?: number; onError?: (error: unknown) => void } = {},
  ): Promise<ChatStore> {
    const store = new ChatStore(storage, options.saveDelayMs ?? 300, options.onError ?? (() => undefined));
    for (const name of await storage.list()) {
      let text: string | undefined;
      try {
        text = await storage.read(name);
      } catch (error) {
        if (!(error instanceof RefusedFileError)) throw error;
        store.problems.push(error.message);
        continue;
      }
      if (text === undefined) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (!isStoredChat(parsed) || jsonName(parsed.id) !== name) {
        store.problems.push(`${name} is not a readable chat; it was kept as ${name}.unreadable-*.`);
        await storage.quarantine(name);
        continue;
      }
      // An answer that was streaming when VS Code closed is kept as it was, marked as interrupted.
      for (const message of parsed.messages) {
        if (message.status === "streaming") {
          message.status = "cancelled";
          message.cancelReason = "reload";
        }
        message.status ??= "done";
      }
      store.chats.set(parsed.id, parsed);
      // A JSON from before the archive (or a larger limit) is bounded on its next save.
      if (parsed.messages.length > liveLimit) store.archiveOverflow(parsed);
    }
    return store;
  }

  list(limit = Number.POSITIVE_INFINITY): ChatSummary[] {
    return [...this.chats.values()]
      .map((chat) => ({ id: chat.id, title: chat.title, updatedAt: chat.updatedAt, messageCount: this.count(chat.id) }))
      .sort((a, b) => b.updatedAt - a.updatedAt)
      .slice(0, limit);
  }

  get(chatId: string): StoredChat | undefined {
    return this.chats.get(chatId);
  }

  /** Messages of the chat, archived ones included. */
  count(chatId: string): number {
    const chat = this.chats.get(chatId);
    return chat ? (chat.archived ?? 0) + chat.messages.length : 0;
  }

  /** A new, empty chat (saved once it has a message). */
  create(): StoredChat {
    const now = Date.now();
    const chat: StoredChat = { version: 1, id: newId("c"), title: "New chat", createdAt: now, updatedAt: now, messages: [] };
    this.chats.set(chat.id, chat);
    return chat;
  }

  addMessage(chatId: string, message: StoredMessage): void {
    const chat = this.require(chatId);
    if (this.count(chatId) === 0 && message.role === "user") chat.title = titleFrom(message.text);
    chat.messages.push(message);
    if (chat.messages.length > liveLimit) this.archiveOverflow(chat);
    this.touch(chat, true);
  }

  /** Appends streamed text to a message (saved within saveDelayMs). */
  appendText(chatId: string, messageId: string, delta: string): void {
    const chat = this.require(chatId);
    const message = this.live(chat, messageId);
    if (!message) return;
    message.text += delta;
    this.touch(chat, false);
  }

  updateMessage(chatId: string, messageId: string, patch: Partial<Omit<StoredMessage, "id" | "role">>): void {
    const chat = this.require(chatId);
    const message = this.live(chat, messageId) ?? chat.archivedPins?.find((record) => record.message.id === messageId)?.message;
    if (!message) return;
    Object.assign(message, patch);
    // An archived message unpinned: its archive line stays (append-only); the pin list says it is not pinned.
    if (patch.pinned === false && chat.archivedPins) chat.archivedPins = chat.archivedPins.filter((record) => record.message.id !== messageId);
    this.touch(chat, true);
  }

  /** The message with `messageId` among the live ones and its index in the chat. */
  find(chatId: string, messageId: string): { message: StoredMessage; index: number } | undefined {
    const chat = this.chats.get(chatId);
    if (!chat) return undefined;
    for (let i = chat.messages.length - 1; i >= 0; i--) {
      if (chat.messages[i]!.id === messageId) return { message: chat.messages[i]!, index: (chat.archived ?? 0) + i };
    }
    return undefined;
  }

  /** Remembers the chat's last window state (saved with the chat). */
  setWindow(chatId: string, window: ChatWindowState): void {
    const chat = this.chats.get(chatId);
    if (!chat) return;
    chat.window = window;
    this.touch(chat, false);
  }

  /** Messages [start, end) of the chat, reading the archive for older ones. */
  async range(chatId: string, start: number, end: number): Promise<StoredMessage[]> {
    const chat = this.chats.get(chatId);
    if (!chat) return [];
    const archived = chat.archived ?? 0;
    const from = Math.max(0, start);
    const to = Math.min(end, this.count(chatId));
    const result: StoredMessage[] = [];
    if (from < archived) await this.readArchive(chat, (message, index) => {
      if (index >= from && index < to) result.push(message);
      return index + 1 < Math.min(to, archived);
    });
    for (let i = Math.max(from, archived); i < to; i++) result.push(chat.messages[i - archived]!);
    return result;
  }

  /** The newest messages containing `query` (case-insensitive), archive included, at most `limit`. */
  async search(chatId: string, query: string, limit = 100): Promise<{ hits: SearchHit[]; more: boolean }> {
    const chat = this.chats.get(chatId);
    const needle = query.toLowerCase();
    if (!chat || needle === "") return { hits: [], more: false };
    const hits: SearchHit[] = [];
    const match = (message: StoredMessage, index: number) => {
      const at = message.text.toLowerCase().indexOf(needle);
      if (at >= 0) hits.push({ id: message.id, index, snippet: snippetOf(message.text, at, needle.length) });
    };
    await this.readArchive(chat, (message, index) => {
      match(message, index);
      return true;
    });
    const archived = chat.archived ?? 0;
    chat.messages.forEach((message, i) => match(message, archived + i));
    return { hits: hits.slice(-limit).reverse(), more: hits.length > limit };
  }

  async remove(chatId: string): Promise<void> {
    this.chats.delete(chatId);
    this.dirty.delete(chatId);
    this.pendingArchive.delete(chatId);
    await this.enqueue(async () => {
      await this.storage.remove(jsonName(chatId));
      await this.storage.remove(archiveName(chatId));
    });
  }

  /** Writes everything pending now: archive lines first, then the JSON that no longer holds them. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ids = [...this.dirty];
    this.dirty.clear();
    await this.enqueue(async () => {
      for (const id of ids) {
        const chat = this.chats.get(id);
        if (!chat || this.count(id) === 0) continue;
        const pending = this.pendingArchive.get(id) ?? [];
        let saved: StoredChat = chat;
        if (pending.length > 0) {
          try {
            await this.storage.append(archiveName(id), pending.map((record) => `${JSON.stringify(record)}\n`).join(""));
            this.pendingArchive.delete(id);
          } catch (error) {
            // The archive cannot be written (refused, disk full): the JSON keeps those messages, nothing is lost.
            this.onError(error);
            saved = { ...chat, archived: pending[0]!.index, messages: [...pending.map((record) => record.message), ...chat.messages] };
          }
        }
        await this.storage.write(jsonName(id), JSON.stringify(saved));
      }
    });
  }

  private async readArchive(chat: StoredChat, visit: (message: StoredMessage, index: number) => boolean): Promise<void> {
    const archived = chat.archived ?? 0;
    if (archived === 0) return;
    const unpinned = new Set<string>();
    const pinned = new Set((chat.archivedPins ?? []).map((record) => record.message.id));
    const seen = (message: StoredMessage, index: number) => {
      if (message.pinned && !pinned.has(message.id)) unpinned.add(message.id);
      return visit(unpinned.has(message.id) ? { ...message, pinned: false } : message, index);
    };
    let next = 0;
    const visitLine = (line: string): boolean => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return true; // a torn last line (crash while appending): skipped
      }
      const record = parsed as { index?: unknown; message?: unknown };
      // Lines are in order; a line repeated by a crash between the append and the JSON write is skipped.
      if (record.index !== next || !isStoredMessage(record.message) || next >= archived) return next < archived;
      next++;
      return seen(record.message, next - 1) && next < archived;
    };
    await this.storage.readLines(archiveName(chat.id), visitLine);
    // Messages not written yet complete the archive.
    for (const record of this.pendingArchive.get(chat.id) ?? []) {
      if (record.index < next) continue;
      if (record.index !== next || !seen(record.message, next++) || next >= archived) break;
    }
  }

  /** Moves the oldest live messages beyond liveLimit to the archive (written on the next flush). */
  private archiveOverflow(chat: StoredChat): void {
    const excess = chat.messages.length - liveLimit;
    if (excess <= 0) return;
    const moved = chat.messages.splice(0, excess);
    const pending = this.pendingArchive.get(chat.id) ?? [];
    let index = chat.archived ?? 0;
    for (const message of moved) {
      pending.push({ index, message });
      if (message.pinned) (chat.archivedPins ??= []).push({ index, message });
      index++;
    }
    chat.archived = index;
    this.pendingArchive.set(chat.id, pending);
    this.dirty.add(chat.id);
  }

  private live(chat: StoredChat, messageId: string): StoredMessage | undefined {
    for (let i = chat.messages.length - 1; i >= 0; i--) if (chat.messages[i]!.id === messageId) return chat.messages[i];
    return undefined;
  }

  private require(chatId: string): StoredChat {
    const chat = this.chats.get(chatId);
    if (!chat) throw new Error(`No chat ${chatId}.`);
    return chat;
  }

  private touch(chat: StoredChat, now: boolean): void {
    chat.updatedAt = Date.now();
    this.dirty.add(chat.id);
    if (now) {
      this.flush().catch(this.onError);
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(this.onError);
    }, this.saveDelayMs);
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    const next = this.writing.then(job, job);
    this.writing = next.catch(() => undefined);
    return next;
  }
}
