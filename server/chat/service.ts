// The chat service: one StreamingLLM stream (stream.ts) on its own context, KV snapshots of it in the
// client's storage folder, and the answers to the chat requests (registered in index.ts).
import { createHash } from "node:crypto";
import { ResponseError, type CancellationToken } from "vscode-languageserver/node";
import type { LlamaContext } from "node-llama-cpp";
import {
  ChatTokenNotification,
  ChatWindowNotification,
  ErrorCodes,
  type ChatCancelReason,
  type ChatHistoryMessage,
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
import { checkChatPinParams, checkChatSendParams } from "./params";
import { ChatStream, parseChatStreamState, planResume, type StreamOptions } from "./stream";
import { modelIdentity, SnapshotStore, snapshotMismatch, type SnapshotIdentity } from "../kv/snapshot";

/** The one chat snapshot kept (its size is fixed: sinks + window); it names the chat it belongs to. */
const snapshotName = "chat";

function ignored(why: string): string {
  return `Ignored the saved chat KV snapshot: ${why}. The conversation is rebuilt from its text instead.`;
}

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
  private snapshots: SnapshotStore | undefined;
  /** How the current stream was created, when it was restored. */
  private restoreReport: ChatRestoreReport | undefined;
  private lastSnapshot: bench.ChatStateResult["snapshot"];

  constructor(private readonly deps: ChatDeps) {}

  /** The folder for KV snapshots (from the client); undefined keeps the current one. */
  setStoragePath(folder: string | undefined): void {
    if (folder === undefined || this.snapshots?.directory === folder) return;
    this.snapshots = new SnapshotStore(folder);
    this.deps.log.debug(`Chat KV snapshots are kept in ${folder}.`);
    if (this.loaded) this.hashModelEarly(this.loaded);
  }

  modelReady(loaded: LoadedModel): void {
    this.loaded = loaded;
    this.formatter = undefined;
    this.hashModelEarly(loaded);
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
      await this.removeSnapshot(chatId);
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
      if (this.snapshots) void this.lifecycle.run(() => this.saveSnapshot(stream));
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
      ...(this.lastSnapshot ? { snapshot: this.lastSnapshot } : {}),
    };
  }

  private async stopRunning(reason: ChatCancelReason): Promise<void> {
    const running = this.running;
    if (!running) return;
    running.cancelReason ??= reason;
    running.controller.abort();
    await running.done;
  }

  private async dropStream(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    this.restoreReport = undefined;
    if (stream) await stream.dispose();
  }

  // ---- KV snapshots ----

  /** Hashes the model file in the background, so the first save or restore does not wait for it. */
  private hashModelEarly(loaded: LoadedModel): void {
    if (this.snapshots && loaded.settings.model.path !== "") void modelIdentity(loaded.settings.model.path).catch(() => undefined);
  }

  private async snapshotIdentity(loaded: LoadedModel, context: LlamaContext): Promise<SnapshotIdentity> {
    return {
      model: await modelIdentity(loaded.settings.model.path),
      engine: {
        contextSize: context.contextSize,
        sinks: loaded.settings.context.sinkTokens,
        shiftSize: loaded.settings.context.shiftSize,
      },
    };
  }

  /** Saves the current stream's KV state (runs on the lifecycle queue: nothing evaluates meanwhile). */
  private async saveSnapshot(stream: ChatStream): Promise<void> {
    const store = this.snapshots;
    const loaded = this.loaded;
    const context = this.context;
    if (!store || !loaded || !context || this.stream !== stream || stream.sequence.disposed || stream.busy) return;
    try {
      const owner = { chatId: stream.chatId, stream: stream.exportState() };
      const meta = await store.save(snapshotName, stream.sequence.sequence, await this.snapshotIdentity(loaded, context), owner);
      this.lastSnapshot = { chatId: stream.chatId, tokens: meta.tokens.length, savedAt: meta.savedAt };
      this.deps.log.debug(`Chat ${stream.chatId}: saved a KV snapshot of ${meta.tokens.length} tokens (${meta.stateBytes} bytes).`);
    } catch (error) {
      this.deps.log.warn(
        `Could not save the chat's KV snapshot in ${store.directory}: ${errorMessage(error)}. ` +
          "The chat goes on; after a restart it is rebuilt from its text.",
      );
    }
  }

  /** Deletes the snapshot when it belongs to `chatId` (any chat when undefined). */
  private async removeSnapshot(chatId: string | undefined): Promise<void> {
    const store = this.snapshots;
    if (!store) return;
    try {
      const meta = await store.read(snapshotName);
      if (meta && (chatId === undefined || meta.owner?.chatId === chatId)) {
        await store.remove(snapshotName);
        if (this.lastSnapshot?.chatId === meta.owner?.chatId) this.lastSnapshot = undefined;
      }
    } catch (error) {
      this.deps.log.warn(`Could not delete the chat's KV snapshot in ${store.directory}: ${errorMessage(error)}.`);
    }
  }

  /**
   * Loads `chatId`'s stream from the snapshot when it matches the model, the engine settings and
   * the stored chat; returns a note saying why not otherwise (nothing loaded, nothing changed).
   */
  private async resumeFromSnapshot(
    loaded: LoadedModel,
    context: LlamaContext,
    formatter: TurnFormatter,
    options: StreamOptions,
    history: readonly ChatHistoryMessage[],
    signal: AbortSignal,
  ): Promise<{ stream: ChatStream; report: ChatRestoreReport } | { note: string }> {
    const store = this.snapshots;
    if (!store) return { note: "No storage folder for KV snapshots: the conversation is rebuilt from its text." };
    let resumed: ChatStream | { note: string };
    let plan: ReturnType<typeof planResume>;
    try {
      const meta = await store.read(snapshotName);
      if (!meta) return { note: "No chat KV snapshot was saved: the conversation is rebuilt from its text." };
      if (meta.owner?.chatId !== options.chatId) {
        return { note: "The saved chat KV snapshot belongs to another chat: this one is rebuilt from its text." };
      }
      const identity = await this.snapshotIdentity(loaded, context);
      const mismatch = snapshotMismatch(meta, identity);
      if (mismatch !== undefined) return { note: ignored(mismatch) };
      const state = parseChatStreamState(meta.owner.stream);
      if (!state || state.chatId !== options.chatId) return { note: ignored("its chat state is unreadable") };
      plan = planResume(state, history);
      if (!plan.ok) return { note: ignored(plan.why) };
      resumed = await ChatStream.resume(context, loaded.model, formatter, options, state, (sequence) =>
        store.restore(snapshotName, sequence, identity),
      );
    } catch (error) {
      return { note: ignored(errorMessage(error)) };
    }
    if (!("chatId" in resumed)) return resumed;
    const stream = resumed;
    const tokens = [...stream.sequence.cachedTokens];
    const meter = stream.sequence.sequence.tokenMeter;
    const report: ChatRestoreReport = {
      source: "snapshot",
      snapshotTokens: tokens.length,
      tokensSha256: createHash("sha256").update(JSON.stringify(tokens)).digest("hex"),
      loadMeter: { input: meter.usedInputTokens, output: meter.usedOutputTokens },
      streamTokens: stream.stats().tokensSeen,
      evaluatedTokens: 0,
    };
    this.stream = stream;
    report.evaluatedTokens = await stream.catchUp(history, plan, signal);
    return { stream, report };
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
    const loaded = this.loaded ?? this.deps.engine.requireModel();
    this.loaded = loaded;
    if (!this.formatter) {
      this.formatter = new TurnFormatter(loaded.llamaCpp, loaded.model);
      if (this.formatter?.fallbackReason) {
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
    const resumed = await this.resumeFromSnapshot(loaded, this.context, this.formatter, options, history, signal);
    if ("stream" in resumed) {
      const { stream, report } = resumed;
      this.restoreReport = report;
      this.deps.log.info(
        `Chat ${chatId}: resumed from its KV snapshot: ${report.snapshotTokens} cells loaded without evaluating them` +
          `${report.evaluatedTokens > 0 ? `; ${report.evaluatedTokens} tokens of messages newer than the snapshot evaluated` : ""}.`,
      );
      return { stream, restoredTokens: report.evaluatedTokens, restore: report, decodedBefore: 0 };
    }
    // A new chat (no history) has nothing to resume: only its note is not worth the user's attention.
    if (history.length > 0) this.deps.log.info(`Chat ${chatId}: ${resumed.note}`);
    else this.deps.log.debug(`Chat ${chatId}: ${resumed.note}`);
    const stream = await ChatStream.create(this.context, loaded.model, this.formatter, options);
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
}
