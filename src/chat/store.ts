// Persisted chat history: one JSON file per chat in the extension's global storage folder, so chats
// survive reloading the window and restarting VS Code. Written as an answer streams (coalesced to
// one write per chat every `saveDelayMs`) and at once when it ends. No `vscode` import: the storage
// is an interface (FolderStorage below is the real one) so this module is tested on its own.
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

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
  createdAt: number;
}

export interface StoredChat {
  version: 1;
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  messages: StoredMessage[];
}

export interface ChatSummary {
  id: string;
  title: string;
  updatedAt: number;
  messageCount: number;
}

/** Where chats are kept: named text blobs. */
export interface ChatStorage {
  list(): Promise<string[]>;
  read(name: string): Promise<string | undefined>;
  write(name: string, data: string): Promise<void>;
  remove(name: string): Promise<void>;
  /** Moves an unreadable file aside (kept for the user, never deleted). */
  quarantine(name: string): Promise<void>;
}

/** A folder of `<chat id>.json` files; writes are atomic (temporary file + rename). */
export class FolderStorage implements ChatStorage {
  constructor(readonly folder: string) {}

  async list(): Promise<string[]> {
    try {
      return (await readdir(this.folder)).filter((name) => name.endsWith(".json"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  }

  async read(name: string): Promise<string | undefined> {
    try {
      return await readFile(path.join(this.folder, name), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async write(name: string, data: string): Promise<void> {
    await mkdir(this.folder, { recursive: true });
    const target = path.join(this.folder, name);
    const temporary = `${target}.${process.pid}.tmp`;
    await writeFile(temporary, data, "utf8");
    await rename(temporary, target);
  }

  async remove(name: string): Promise<void> {
    await rm(path.join(this.folder, name), { force: true });
  }

  async quarantine(name: string): Promise<void> {
    await rename(path.join(this.folder, name), path.join(this.folder, `${name}.unreadable-${Date.now()}`));
  }
}

const chatIdPattern = /^[A-Za-z0-9_-]{1,64}$/;

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
    chat.messages.every(
      (m) =>
        typeof m === "object" &&
        m !== null &&
        typeof m.id === "string" &&
        (m.role === "user" || m.role === "assistant") &&
        typeof m.text === "string",
    )
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

export class ChatStore {
  private readonly chats = new Map<string, StoredChat>();
  private readonly dirty = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** Files that could not be read (moved aside), for the log. */
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
      const text = await storage.read(name);
      if (text === undefined) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (!isStoredChat(parsed) || `${parsed.id}.json` !== name) {
        store.problems.push(`${name} is not a readable chat; it was kept as ${name}.unreadable-*.`);
        await storage.quarantine(name);
        continue;
      }
      // An answer that was streaming when VS Code closed is kept as it was, marked as interrupted.
      for (const message of parsed.messages) {
        if (message.status === "streaming") message.status = "cancelled";
        message.status ??= "done";
      }
      store.chats.set(parsed.id, parsed);
    }
    return store;
  }

  list(): ChatSummary[] {
    return [...this.chats.values()]
      .map((chat) => ({ id: chat.id, title: chat.title, updatedAt: chat.updatedAt, messageCount: chat.messages.length }))
      .sort((a, b) => b.updatedAt - a.updatedAt);
  }

  get(chatId: string): StoredChat | undefined {
    return this.chats.get(chatId);
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
    if (chat.messages.length === 0 && message.role === "user") chat.title = titleFrom(message.text);
    chat.messages.push(message);
    this.touch(chat, true);
  }

  /** Appends streamed text to a message (saved within saveDelayMs). */
  appendText(chatId: string, messageId: string, delta: string): void {
    const chat = this.require(chatId);
    const message = chat.messages.find((m) => m.id === messageId);
    if (!message) return;
    message.text += delta;
    this.touch(chat, false);
  }

  updateMessage(chatId: string, messageId: string, patch: Partial<Omit<StoredMessage, "id" | "role">>): void {
    const chat = this.require(chatId);
    const message = chat.messages.find((m) => m.id === messageId);
    if (!message) return;
    Object.assign(message, patch);
    this.touch(chat, true);
  }

  async remove(chatId: string): Promise<void> {
    this.chats.delete(chatId);
    this.dirty.delete(chatId);
    await this.enqueue(() => this.storage.remove(`${chatId}.json`));
  }

  /** Writes everything pending now. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ids = [...this.dirty];
    this.dirty.clear();
    await this.enqueue(async () => {
      for (const id of ids) {
        const chat = this.chats.get(id);
        if (chat && chat.messages.length > 0) await this.storage.write(`${id}.json`, JSON.stringify(chat));
      }
    });
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
