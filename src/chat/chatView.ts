// The chat view (a WebviewViewProvider in StreamSink's activity-bar container): owns the persisted
// chats (store.ts), the attachments waiting for the next message, and the one answer being
// generated; talks to the server with the chat messages of common/protocol/chat.ts and to the webview
// with the typed, validated messages of common/chatMessages.ts.
import * as vscode from "vscode";
import { CancellationTokenSource, State } from "vscode-languageclient/node";
import type { LanguageClient } from "vscode-languageclient/node";
import { DisposableStore } from "../../common/disposable";
import { lateStopLog, parseFromWebview, type FromWebview, type ToWebview } from "../../common/chatMessages";
import {
  ChatPinRequest,
  ChatResetRequest,
  ChatOpenRequest,
  ChatSendRequest,
  ChatTokenNotification,
  ChatWindowNotification,
  ErrorCodes,
  type ChatWindowState,
} from "../../common/protocol";
import type { ServerConnection } from "../client";
import { notReadyMessage } from "../commands";
import { log } from "../log";
import { chatHtml } from "./html";
import { attachmentFromEditor, type Attachment } from "./attachments";
import { historyOf } from "./history";
import { ChatStore, newId, type StoredChat } from "./store";
import { ChatViewSync } from "./viewSync";
import { errorMessage } from "../../common/errors";

export const chatViewId = "streamsink.chat";
const currentChatKey = "streamsink.chat.current";

interface Streaming {
  chatId: string;
  messageId: string;
  source: CancellationTokenSource;
}

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private ready = false;
  private chat: StoredChat;
  private attachments: Attachment[] = [];
  private streaming: Streaming | undefined;
  /** Window states the running server reported (the stored one is shown until it does). */
  private readonly windows = new Map<string, ChatWindowState>();
  private readonly sync: ChatViewSync;
  private problemsShown = false;
  private readonly disposables = new DisposableStore();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly server: ServerConnection,
    private readonly store: ChatStore,
  ) {
    this.sync = new ChatViewSync(store, (message) => this.post(message));
    const current = context.globalState.get<string>(currentChatKey);
    this.chat = (current && store.get(current)) || store.get(store.list()[0]?.id ?? "") || store.create();
    this.disposables.add(
      server.onStatus((status) => {
        this.postState();
        if (status.state === "ready") this.openOnServer();
      }),
    );
    this.disposables.add(server.forEachClient((client, scope) => this.attachClient(client, scope)));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const media = vscode.Uri.joinPath(this.context.extensionUri, "media");
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = chatHtml(view.webview, media, vscode.Uri.joinPath);
    const received = view.webview.onDidReceiveMessage((raw: unknown) => {
      const message = parseFromWebview(raw);
      if (!message) {
        log.warn(`Chat view: ignored a malformed message: ${JSON.stringify(raw)?.slice(0, 200)}`);
        return;
      }
      void this.handle(message).catch((error: unknown) => {
        const text = errorMessage(error);
        log.error(`Chat: ${text}`);
        this.post({ type: "notice", level: "error", text });
      });
    });
    this.disposables.add(received);
    this.disposables.add(
      view.onDidDispose(() => {
        this.view = undefined;
        this.ready = false;
      }),
    );
  }

  /** Commands: New Chat, Add Selection, Add File. */
  async newChat(): Promise<void> {
    await this.stop();
    if (this.chat.messages.length > 0) this.chat = this.store.create();
    this.attachments = [];
    await this.context.globalState.update(currentChatKey, this.chat.id);
    void this.server.running?.sendRequest(ChatResetRequest.type, {}).catch(() => undefined);
    this.showChat();
  }

  attach(what: "selection" | "file"): void {
    const attachment = attachmentFromEditor(what);
    if ("notice" in attachment) {
      this.post({ type: "notice", level: "info", text: attachment.notice });
      return;
    }
    if (this.attachments.length >= 16) this.attachments.shift();
    this.attachments.push(attachment);
    void vscode.commands.executeCommand(`${chatViewId}.focus`);
    this.postState();
  }

  dispose(): void {
    void this.stop();
    this.disposables.dispose();
    void this.store.flush();
  }

  // ---- webview messages ----

  private async handle(message: FromWebview): Promise<void> {
    switch (message.type) {
      case "ready":
        this.ready = true;
        this.showChat();
        if (!this.problemsShown && this.store.problems.length > 0) {
          this.problemsShown = true;
          this.post({ type: "notice", level: "error", text: `Chat history: ${this.store.problems.join(" ")}` });
        }
        return;
      case "page":
        if (message.chatId === this.chat.id) await this.sync.postPage(message.chatId, message.start, message.count);
        return;
      case "search":
        if (message.chatId === this.chat.id) await this.sync.postSearch(message.chatId, message.query);
        return;
      case "send":
        return this.send(message.text);
      case "stop":
        return this.stop();
      case "openChat":
        return this.open(message.chatId);
      case "deleteChat":
        return this.remove(message.chatId);
      case "pin":
        return this.pin(message.messageId, message.pinned);
      case "copy":
        await vscode.env.clipboard.writeText(message.text);
        vscode.window.setStatusBarMessage("$(copy) StreamSink: copied to the clipboard", 2000);
        return;
      case "insert":
        return this.insert(message.text);
      case "attach":
        return this.attach(message.what);
      case "removeAttachment":
        this.attachments.splice(message.index, 1);
        this.postState();
        return;
      case "openSettings":
        await vscode.commands.executeCommand("workbench.action.openSettings", "streamsink.model");
        return;
    }
  }

  private async send(text: string): Promise<void> {
    if (this.streaming) {
      this.post({ type: "notice", level: "info", text: "Wait for the answer to finish, or stop it (Escape) first." });
      return;
    }
    const client = this.server.running;
    if (!client || !this.server.isReady) {
      this.post({ type: "notice", level: "error", text: notReadyMessage(this.server) });
      return;
    }
    const chat = this.chat;
    const attachments = this.attachments.splice(0);
    const prompt = attachments.length > 0 ? `${attachments.map((a) => a.text).join("\n\n")}\n\n${text}` : text;
    const history = historyOf(chat);
    const userId = newId("u");
    const assistantId = newId("a");
    const now = Date.now();
    this.store.addMessage(chat.id, {
      id: userId,
      role: "user",
      text,
      ...(prompt !== text ? { prompt } : {}),
      ...(attachments.length > 0 ? { attachments: attachments.map((a) => a.label) } : {}),
      status: "done",
      createdAt: now,
    });
    const modelName = this.server.currentStatus.modelName;
    this.store.addMessage(chat.id, {
      id: assistantId,
      role: "assistant",
      text: "",
      status: "streaming",
      ...(modelName ? { model: modelName } : {}),
      createdAt: now,
    });
    await this.context.globalState.update(currentChatKey, chat.id);
    const source = new CancellationTokenSource();
    this.streaming = { chatId: chat.id, messageId: assistantId, source };
    this.sync.postMessage(chat.id, userId);
    this.sync.postMessage(chat.id, assistantId);
    this.postState();
    try {
      const result = await client.sendRequest(
        ChatSendRequest.type,
        { chatId: chat.id, userMessageId: userId, assistantMessageId: assistantId, text: prompt, history },
        source.token,
      );
      this.store.updateMessage(chat.id, assistantId, {
        text: result.text,
        status: result.stopReason === "cancelled" ? "cancelled" : "done",
        ...(result.stopReason === "cancelled" ? { cancelReason: result.cancelReason ?? "stop" } : {}),
      });
      this.windows.set(chat.id, result.window);
      this.sync.postWindow(result.window);
      if (source.token.isCancellationRequested && result.stopReason !== "cancelled") log.info(`${lateStopLog} (${result.stopReason})`);
      log.debug(
        `Chat answer: ${result.generatedTokens} tokens (${result.stopReason}) in ${result.durationMs.toFixed(0)} ms, ` +
          `KV ${result.stats.kvCells}/${result.stats.contextSize}, ${result.stats.shifts} shifts` +
          (result.stopLatencyMs !== undefined ? `, stopped ${result.stopLatencyMs.toFixed(1)} ms after the cancel arrived` : ""),
      );
    } catch (error) {
      // The user's Stop, or the server went away while it answered (it restarted, or is restarting).
      const stopped = source.token.isCancellationRequested;
      const message = errorMessage(error);
      const restarted =
        !stopped && (this.server.running !== client || client.state !== State.Running || /connection (got )?(disposed|closed)/i.test(message));
      const code = (error as { code?: number }).code;
      this.store.updateMessage(chat.id, assistantId, {
        status: stopped || restarted ? "cancelled" : "error",
        ...(stopped ? { cancelReason: "stop" as const } : restarted ? { cancelReason: "serverRestarted" as const } : {}),
        ...(stopped || restarted ? {} : { error: code === ErrorCodes.modelNotReady ? notReadyMessage(this.server) : message }),
      });
      if (!stopped) log.error(`Chat answer failed: ${message}`);
    } finally {
      if (this.streaming?.messageId === assistantId) this.streaming = undefined;
      source.dispose();
      await this.store.flush();
      this.sync.postMessage(chat.id, assistantId);
      this.postState();
    }
  }

  private async stop(): Promise<void> {
    if (this.streaming) this.streaming.source.cancel();
    else log.info(lateStopLog);
  }

  private async open(chatId: string): Promise<void> {
    const chat = this.store.get(chatId);
    if (!chat || chat.id === this.chat.id) return;
    await this.stop();
    this.chat = chat;
    this.attachments = [];
    await this.context.globalState.update(currentChatKey, chat.id);
    this.showChat();
  }

  private async remove(chatId: string): Promise<void> {
    const choice = await vscode.window.showWarningMessage(
      `Delete the chat “${this.store.get(chatId)?.title ?? chatId}”? This cannot be undone.`,
      { modal: true },
      "Delete",
    );
    if (choice !== "Delete") return;
    if (this.streaming?.chatId === chatId) await this.stop();
    await this.store.remove(chatId);
    this.windows.delete(chatId);
    void this.server.running?.sendRequest(ChatResetRequest.type, { chatId }).catch(() => undefined);
    if (this.chat.id === chatId) {
      this.chat = this.store.get(this.store.list()[0]?.id ?? "") ?? this.store.create();
      this.showChat();
    } else this.postState();
  }

  private async pin(messageId: string, pinned: boolean): Promise<void> {
    const chat = this.chat;
    const message = this.store.find(chat.id, messageId) ?? chat.archivedPins?.find((record) => record.message.id === messageId);
    if (!message) return;
    const client = this.server.running;
    if (client) {
      const result = await client.sendRequest(ChatPinRequest.type, { chatId: chat.id, messageId, pinned });
      if (!result.ok) {
        this.post({ type: "notice", level: "error", text: result.message ?? "The message could not be pinned." });
        return;
      }
      if (result.window) {
        this.windows.set(chat.id, result.window);
        this.sync.postWindow(result.window);
      }
    }
    this.store.updateMessage(chat.id, messageId, { pinned });
    this.sync.postMessage(chat.id, messageId);
    this.postState();
  }

  private async insert(text: string): Promise<void> {
    const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
    if (!editor) {
      this.post({ type: "notice", level: "info", text: "Open a file to insert the code into (it goes where the cursor is)." });
      return;
    }
    await editor.edit((edit) => {
      for (const selection of editor.selections) edit.replace(selection, text);
    });
    await vscode.window.showTextDocument(editor.document, editor.viewColumn);
  }

  // ---- server ----

  /**
   * After a reload or a restart, once the model is ready: asks the server to load the shown chat's
   * KV snapshot, so the meter, the status bar's fill and the diagnostics show it at once (the
   * server never rebuilds a chat from its text for this: that waits for the next message).
   */
  private openOnServer(): void {
    const client = this.server.running;
    const chat = this.chat;
    if (!client || !this.server.isReady || this.streaming || this.windows.has(chat.id) || chat.messages.length === 0) return;
    client.sendRequest(ChatOpenRequest.type, { chatId: chat.id, history: historyOf(chat) }).then(
      (result) => {
        log.debug(`Chat ${chat.id}: ${result.restored ? "loaded on the server" : "not loaded on the server"}${result.note ? `: ${result.note}` : "."}`);
        if (!result.window || this.windows.has(chat.id)) return;
        this.windows.set(chat.id, result.window);
        if (this.chat.id === chat.id) this.postState();
      },
      (error: unknown) => log.warn(`Chat ${chat.id}: could not ask the server to load it: ${errorMessage(error)}`),
    );
  }

  private attachClient(client: LanguageClient | undefined, scope: DisposableStore): void {
    if (!client) return;
    scope.add(
      client.onNotification(ChatTokenNotification.type, (token) => {
        if (!this.streaming || token.assistantMessageId !== this.streaming.messageId) return;
        this.store.appendText(token.chatId, token.assistantMessageId, token.delta);
        this.sync.postToken(token.chatId, token.assistantMessageId, token.delta);
      }),
    );
    scope.add(
      client.onNotification(ChatWindowNotification.type, (window) => {
        this.windows.set(window.chatId, window);
        this.sync.postWindow(window);
      }),
    );
    // A new server process holds no chat: every chat's window is unknown until its next message.
    this.windows.clear();
  }

  // ---- webview ----

  private postState(): void {
    const status = this.server.currentStatus;
    this.sync.postState(this.chat, {
      attachments: this.attachments.map((a) => a.label),
      ...(this.streaming?.chatId === this.chat.id ? { streamingId: this.streaming.messageId } : {}),
      server: { state: status.state, message: status.message, ...(status.modelName ? { modelName: status.modelName } : {}) },
      window: this.windows.get(this.chat.id),
    });
  }

  /** The current chat from scratch: its chrome, then its newest messages. */
  private showChat(): void {
    this.postState();
    void this.sync.postNewest(this.chat.id).catch((error: unknown) => log.error(`Chat history: ${errorMessage(error)}`));
  }

  private post(message: ToWebview): void {
    if (!this.view || !this.ready) return;
    void this.view.webview.postMessage(message);
  }
}

