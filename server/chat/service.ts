// The chat service: one StreamingLLM stream (stream.ts) on its own context, KV snapshots of it in the
// client's storage folder, and the answers to the chat requests (registered in index.ts).
import { ResponseError, type CancellationToken } from "vscode-languageserver/node";
import type { LlamaContext } from "node-llama-cpp";
import {
  ChatTokenNotification,
  ChatWindowNotification,
  ErrorCodes,
  type ChatCancelReason,
  type ChatHistoryMessage,
  type ChatOpenResult,
  type ChatPinResult,
  type ChatRestoreReport,
  type ChatSendResult,
  bench,
} from "../../common/protocol";
import { ModelNotReadyError, type LoadedModel } from "../engine";
import { errorMessage } from "../log";
import type { ServerContext } from "../feature";
import { SerialQueue } from "../serialQueue";
import { shiftCapabilityOfModel } from "../kv/shiftCapability";
import { tokenPredictorFor } from "../kv/speculativeSetup";
import { TurnFormatter } from "./format";
import { checkChatOpenParams, checkChatPinParams, checkChatSendParams } from "./params";
import { ChatSnapshots, type ChatSetup } from "./snapshots";
import { ChatStream, type StreamOptions } from "./stream";

/** What the chat service uses of the server (server/feature.ts). */
export type ChatDeps = Pick<ServerContext, "connection" | "engine" | "log">;

interface Running {
  chatId: string;
  controller: AbortController;
  /** Set when the server itself cancels the answer (absent: the client's Stop). */
  cancelReason?: ChatCancelReason;
  done: Promise<unknown>;
}

export class ChatService {
  /** Stream changes (create, reset, unload) one at a time. */
  private readonly lifecycle = new SerialQueue();
  private loaded: LoadedModel | undefined;
  private context: LlamaContext | undefined;
  private formatter: TurnFormatter | undefined;
  private stream: ChatStream | undefined;
  private running: Running | undefined;
  private readonly snapshots: ChatSnapshots;
  /** How the current stream was created, when it was restored. */
  private restoreReport: ChatRestoreReport | undefined;
  /** Aborts an `open` that is still evaluating messages newer than the snapshot. */
  private opening: AbortController | undefined;

  constructor(private readonly deps: ChatDeps) {
    this.snapshots = new ChatSnapshots(deps.log);
  }

  /** The folder for KV snapshots (from the client); undefined keeps the current one. */
  setStoragePath(folder: string | undefined): void {
    if (this.snapshots.setFolder(folder) && this.loaded) this.snapshots.hashModelEarly(this.loaded);
  }

  modelReady(loaded: LoadedModel): void {
    this.loaded = loaded;
    this.formatter = undefined;
    this.snapshots.hashModelEarly(loaded);
  }

  async modelUnloading(): Promise<void> {
    const next = this.deps.engine.currentSettings?.model.path;
    await this.stopRunning(this.loaded && next !== undefined && next !== this.loaded.settings.model.path ? "modelChanged" : "settingsChanged");
    await this.lifecycle.run(async () => {
      await this.dropStream();
      if (this.context && !this.context.disposed) await this.context.dispose();
      this.context = undefined;
      this.formatter = undefined;
      this.loaded = undefined;
    });
  }

  stats() {
    return this.stream?.stats();
  }

  async reset(chatId?: string): Promise<boolean> {
    const holds = chatId === undefined || this.stream?.chatId === chatId || this.running?.chatId === chatId;
    if (holds) await this.stopRunning("reset");
    return this.lifecycle.run(async () => {
      await this.snapshots.remove(chatId);
      if (!holds) return false;
      const had = this.stream !== undefined;
      await this.dropStream();
      return had;
    });
  }

  async send(raw: unknown, token: CancellationToken): Promise<ChatSendResult> {
    const checked = checkChatSendParams(raw);
    if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
    const params = checked.value;
    if (this.running) {
      throw new ResponseError(
        ErrorCodes.chatBusy,
        "StreamSink is still answering the previous message. Stop it (Escape) or wait for it to finish.",
      );
    }
    const started = performance.now();
    const controller = new AbortController();
    let cancelArrived: number | undefined;
    let release!: () => void;
    const running: Running = { chatId: params.chatId, controller, done: new Promise<void>((resolve) => (release = resolve)) };
    const cancel = () => {
      cancelArrived ??= performance.now();
      running.cancelReason ??= "stop";
      controller.abort();
    };
    if (token.isCancellationRequested) cancel();
    const subscription = token.onCancellationRequested(cancel);
    this.running = running;
    try {
      const { stream, restoredTokens, restore, decodedBefore } = await this.lifecycle.run(() =>
        this.streamFor(params.chatId, params.history, controller.signal),
      );
      const answer = await stream.send(params.userMessageId, params.assistantMessageId, params.text, {
        maxTokens: params.maxTokens,
        temperature: params.temperature,
        seed: params.seed,
        signal: controller.signal,
        onText: (delta) =>
          void this.deps.connection.sendNotification(ChatTokenNotification.type, {
            chatId: params.chatId,
            assistantMessageId: params.assistantMessageId,
            delta,
          }),
        onWindowMove: () => void this.deps.connection.sendNotification(ChatWindowNotification.type, stream.windowState()),
      });
      // The sequence is free again here: generation ended and the last token is in the cache.
      const freed = performance.now();
      for (const notice of stream.notices.splice(0)) this.deps.log.warn(`Chat: ${notice}`);
      const window = stream.windowState();
      void this.deps.connection.sendNotification(ChatWindowNotification.type, window);
      const decodedTokens = stream.decodedTokens() - decodedBefore;
      // Saved after the answer is returned; the next message's stream lookup waits for it.
      void this.lifecycle.run(() => this.saveSnapshot(stream));
      return {
        chatId: params.chatId,
        assistantMessageId: params.assistantMessageId,
        text: answer.text,
        stopReason: answer.stopReason,
        ...(answer.stopReason === "cancelled" ? { cancelReason: running.cancelReason ?? "stop" } : {}),
        promptTokens: answer.promptTokens,
        generatedTokens: answer.generatedTokens,
        restoredTokens,
        ...(restore ? { restore } : {}),
        decodedTokens,
        promptMs: answer.promptMs,
        generationMs: answer.generationMs,
        durationMs: performance.now() - started,
        ...(answer.stopReason === "cancelled" && cancelArrived !== undefined ? { stopLatencyMs: freed - cancelArrived } : {}),
        kvCellsMax: answer.kvCellsMax,
        window,
        stats: stream.stats(),
      };
    } catch (error) {
      if (error instanceof ResponseError) throw error;
      if (error instanceof ModelNotReadyError) throw new ResponseError(ErrorCodes.modelNotReady, error.message);
      this.deps.log.error(`Chat failed: ${errorMessage(error)}`);
      // The stream may be inconsistent after an unexpected failure: start the next message afresh
      // (the client sends the history, so nothing is lost).
      await this.lifecycle.run(() => this.dropStream());
      throw new ResponseError(ErrorCodes.internalError, `The chat answer failed: ${errorMessage(error)}. The conversation is kept; send again to continue.`);
    } finally {
      subscription.dispose();
      if (this.running === running) this.running = undefined;
      release();
    }
  }

  /** Loads `chatId`'s KV snapshot when the server holds no chat (ChatOpenRequest); never evaluates its text. */
  async open(raw: unknown): Promise<ChatOpenResult> {
    const checked = checkChatOpenParams(raw);
    if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
    const { chatId, history } = checked.value;
    const held = (): ChatOpenResult | undefined => {
      if (this.stream?.chatId === chatId && !this.stream.sequence.disposed) return { restored: true, window: this.stream.windowState() };
      if (this.stream || this.running) return { restored: false, note: "The server is busy with another chat; this one is loaded with its next message." };
      return undefined;
    };
    const now = held();
    if (now) return now;
    if ((await this.snapshots.owner()) !== chatId) {
      return { restored: false, note: "No KV snapshot of this chat: it is rebuilt from its text when the next message is sent." };
    }
    const controller = new AbortController();
    try {
      return await this.lifecycle.run(async () => {
        const later = held();
        if (later) return later;
        this.opening = controller;
        const resumed = await this.resume(await this.prepare(chatId), history, controller.signal);
        if (!("stream" in resumed)) return { restored: false, note: resumed.note };
        const window = resumed.stream.windowState();
        void this.deps.connection.sendNotification(ChatWindowNotification.type, window);
        return { restored: true, window, restore: resumed.report };
      });
    } catch (error) {
      if (error instanceof ModelNotReadyError) return { restored: false, note: error.message };
      // A half-restored stream is dropped: the next message rebuilds the chat from its text.
      await this.lifecycle.run(() => this.dropStream());
      if (controller.signal.aborted) return { restored: false, note: "Stopped: the chat was reset or the model changed." };
      this.deps.log.warn(`Chat ${chatId}: could not load its KV snapshot: ${errorMessage(error)}. It is rebuilt from its text with the next message.`);
      return { restored: false, note: errorMessage(error) };
    } finally {
      if (this.opening === controller) this.opening = undefined;
    }
  }

  pin(raw: unknown): ChatPinResult {
    const checked = checkChatPinParams(raw);
    if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
    const { chatId, messageId, pinned } = checked.value;
    const stream = this.stream;
    if (!stream || stream.chatId !== chatId) {
      // Not loaded: the pin is kept by the client and applied when the chat is restored.
      return { ok: true, message: "The pin takes effect when this chat is continued." };
    }
    const result = stream.pin(messageId, pinned);
    const window = stream.windowState();
    void this.deps.connection.sendNotification(ChatWindowNotification.type, window);
    return { ...result, window };
  }

  state(): bench.ChatStateResult {
    const stream = this.stream;
    return {
      chatId: stream?.chatId,
      window: stream?.windowState(),
      stats: stream?.stats(),
      sinkTokens: stream?.stats().sinkTokens ?? [],
      rssBytes: process.memoryUsage.rss(),
      ...(stream && this.restoreReport ? { restore: this.restoreReport } : {}),
      ...(this.snapshots.last ? { snapshot: this.snapshots.last } : {}),
    };
  }

  private async stopRunning(reason: ChatCancelReason): Promise<void> {
    this.opening?.abort();
    const running = this.running;
    if (!running) return;
    running.cancelReason ??= reason;
    running.controller.abort();
    await running.done;
  }

  /** Saves the current stream's KV state (runs on the lifecycle queue: nothing evaluates meanwhile). */
  private async saveSnapshot(stream: ChatStream): Promise<void> {
    const { loaded, context } = this;
    if (!loaded || !context || this.stream !== stream || stream.sequence.disposed || stream.busy) return;
    await this.snapshots.save(stream, loaded, context);
  }

  private async dropStream(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    this.restoreReport = undefined;
    if (stream) await stream.dispose();
  }

  /** The stream of `chatId`: the current one, or a new one loaded from the KV snapshot or rebuilt from the stored history. */
  private async streamFor(
    chatId: string,
    history: readonly ChatHistoryMessage[],
    signal: AbortSignal,
  ): Promise<{ stream: ChatStream; restoredTokens: number; restore?: ChatRestoreReport; decodedBefore: number }> {
    if (this.stream && this.stream.chatId === chatId && !this.stream.sequence.disposed) {
      return { stream: this.stream, restoredTokens: 0, decodedBefore: this.stream.decodedTokens() };
    }
    await this.dropStream();
    const setup = await this.prepare(chatId);
    const { loaded, context, formatter, options } = setup;
    const resumed = await this.resume(setup, history, signal);
    if ("stream" in resumed) return { stream: resumed.stream, restoredTokens: resumed.report.evaluatedTokens, restore: resumed.report, decodedBefore: 0 };
    // A new chat (no history) has nothing to resume: only its note is not worth the user's attention.
    if (history.length > 0) this.deps.log.info(`Chat ${chatId}: ${resumed.note}`);
    else this.deps.log.debug(`Chat ${chatId}: ${resumed.note}`);
    const stream = await ChatStream.create(context, loaded.model, formatter, options);
    this.stream = stream;
    let restoredTokens = 0;
    if (history.length > 0) restoredTokens = await stream.restore(history, signal);
    this.deps.log.debug(
      `Chat ${chatId}: new stream, ${stream.templateSinks} sink tokens, ${restoredTokens} tokens restored from ${history.length} stored messages.`,
    );
    const restore: ChatRestoreReport = {
      source: "history",
      snapshotTokens: 0,
      loadMeter: { input: 0, output: 0 },
      streamTokens: stream.stats().tokensSeen,
      evaluatedTokens: restoredTokens,
      note: resumed.note,
    };
    this.restoreReport = restore;
    return { stream, restoredTokens, restore, decodedBefore: 0 };
  }
  /** The model, the chat's context (created once), the template and the stream options for `chatId`. */
  private async prepare(chatId: string): Promise<ChatSetup> {
    const loaded = this.loaded ?? this.deps.engine.requireModel();
    this.loaded = loaded;
    if (!this.formatter) {
      this.formatter = new TurnFormatter(loaded.llamaCpp, loaded.model);
      if (this.formatter.fallbackReason) {
        this.deps.log.info(`Chat uses the ${this.formatter.wrapperName} template: ${this.formatter.fallbackReason}.`);
      }
    }
    if (!this.context || this.context.disposed) {
      this.context = await this.deps.engine.createContext({ contextSize: loaded.settings.context.size, label: "chat" });
    }
    const contextSize = this.context.contextSize;
    const options: StreamOptions = {
      chatId,
      minSinks: loaded.settings.context.sinkTokens,
      shiftSize: loaded.settings.context.shiftSize,
      capability: shiftCapabilityOfModel(loaded.model),
      tokenPredictor: (sinks) => tokenPredictorFor(loaded, { contextSize, sinks, label: "chat" }, this.deps.log),
    };
    return { loaded, context: this.context, formatter: this.formatter, options };
  }

  /** Loads the stream from the chat's KV snapshot (ChatSnapshots.resume), logging how. */
  private async resume(setup: ChatSetup, history: readonly ChatHistoryMessage[], signal: AbortSignal): ReturnType<ChatSnapshots["resume"]> {
    const resumed = await this.snapshots.resume(setup, history, signal, (stream) => (this.stream = stream));
    if ("stream" in resumed) {
      const { report } = resumed;
      this.restoreReport = report;
      this.deps.log.info(
        `Chat ${setup.options.chatId}: resumed from its KV snapshot: ${report.snapshotTokens} cells loaded without evaluating them` +
          `${report.evaluatedTokens > 0 ? `; ${report.evaluatedTokens} tokens of messages newer than the snapshot evaluated` : ""}.`,
      );
    }
    return resumed;
  }
}
