// The chat's KV snapshot (one, named "chat", in the client's storage folder): saved after every
// answer, deleted with its chat, and loaded instead of re-evaluating when a stream is (re)created
// after a restart or a window reload (server/kv/snapshot.ts does the file format and its checks).
import { createHash } from "node:crypto";
import type { LlamaContext } from "node-llama-cpp";
import type { bench, ChatHistoryMessage, ChatRestoreReport } from "../../common/protocol";
import type { LoadedModel } from "../engine";
import { errorMessage, type Logger } from "../log";
import { modelIdentity, SnapshotStore, snapshotMismatch, type SnapshotIdentity } from "../kv/snapshot";
import type { TurnFormatter } from "./format";
import { ChatStream, parseChatStreamState, planResume, type StreamOptions } from "./stream";

/** The one chat snapshot kept (its size is fixed: sinks + window); it names the chat it belongs to. */
const snapshotName = "chat";

function ignored(why: string): string {
  return `Ignored the saved chat KV snapshot: ${why}. The conversation is rebuilt from its text instead.`;
}

async function snapshotIdentity(loaded: LoadedModel, context: LlamaContext): Promise<SnapshotIdentity> {
  return {
    model: await modelIdentity(loaded.settings.model.path),
    engine: {
      contextSize: context.contextSize,
      sinks: loaded.settings.context.sinkTokens,
      shiftSize: loaded.settings.context.shiftSize,
    },
  };
}

/** What a chat stream is made with: the model, the chat's context, its template and the stream options. */
export interface ChatSetup {
  loaded: LoadedModel;
  context: LlamaContext;
  formatter: TurnFormatter;
  options: StreamOptions;
}

export class ChatSnapshots {
  private store: SnapshotStore | undefined;
  /** The last snapshot saved in this process (chat state, diagnostics). */
  last: bench.ChatStateResult["snapshot"];

  constructor(private readonly log: Logger) {}

  /** Uses `folder` from now on; false when it is the current one (or none was given). */
  setFolder(folder: string | undefined): boolean {
    if (folder === undefined || this.store?.directory === folder) return false;
    this.store = new SnapshotStore(folder);
    this.log.debug(`Chat KV snapshots are kept in ${folder}.`);
    return true;
  }

  /** Hashes the model file in the background, so the first save or restore does not wait for it. */
  hashModelEarly(loaded: LoadedModel): void {
    if (this.store && loaded.settings.model.path !== "") void modelIdentity(loaded.settings.model.path).catch(() => undefined);
  }

  /** The chat the saved snapshot belongs to (undefined: none saved, or no folder). */
  async owner(): Promise<string | undefined> {
    try {
      const chatId = (await this.store?.read(snapshotName))?.owner?.chatId;
      return typeof chatId === "string" ? chatId : undefined;
    } catch {
      return undefined;
    }
  }

  /** Saves `stream`'s KV state (call between evaluations: nothing may evaluate meanwhile). */
  async save(stream: ChatStream, loaded: LoadedModel, context: LlamaContext): Promise<void> {
    const store = this.store;
    if (!store) return;
    try {
      const owner = { chatId: stream.chatId, stream: stream.exportState() };
      const meta = await store.save(snapshotName, stream.sequence.sequence, await snapshotIdentity(loaded, context), owner);
      this.last = { chatId: stream.chatId, tokens: meta.tokens.length, savedAt: meta.savedAt };
      this.log.debug(`Chat ${stream.chatId}: saved a KV snapshot of ${meta.tokens.length} tokens (${meta.stateBytes} bytes).`);
    } catch (error) {
      this.log.warn(
        `Could not save the chat's KV snapshot in ${store.directory}: ${errorMessage(error)}. ` +
          "The chat goes on; after a restart it is rebuilt from its text.",
      );
    }
  }

  /** Deletes the snapshot when it belongs to `chatId` (any chat when undefined). */
  async remove(chatId: string | undefined): Promise<void> {
    const store = this.store;
    if (!store) return;
    try {
      const meta = await store.read(snapshotName);
      if (meta && (chatId === undefined || meta.owner?.chatId === chatId)) {
        await store.remove(snapshotName);
        if (this.last?.chatId === meta.owner?.chatId) this.last = undefined;
      }
    } catch (error) {
      this.log.warn(`Could not delete the chat's KV snapshot in ${store.directory}: ${errorMessage(error)}.`);
    }
  }

  /**
   * Loads `options.chatId`'s stream from the snapshot when it matches the model, the engine settings
   * and the stored chat, hands it to `adopt`, then evaluates the messages newer than the snapshot;
   * returns a note saying why not otherwise (nothing loaded, nothing changed).
   */
  async resume(
    { loaded, context, formatter, options }: ChatSetup,
    history: readonly ChatHistoryMessage[],
    signal: AbortSignal,
    adopt: (stream: ChatStream) => void,
  ): Promise<{ stream: ChatStream; report: ChatRestoreReport } | { note: string }> {
    const store = this.store;
    if (!store) return { note: "No storage folder for KV snapshots: the conversation is rebuilt from its text." };
    let resumed: ChatStream | { note: string };
    let plan: ReturnType<typeof planResume>;
    try {
      const meta = await store.read(snapshotName);
      if (!meta) return { note: "No chat KV snapshot was saved: the conversation is rebuilt from its text." };
      if (meta.owner?.chatId !== options.chatId) {
        return { note: "The saved chat KV snapshot belongs to another chat: this one is rebuilt from its text." };
      }
      const identity = await snapshotIdentity(loaded, context);
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
    adopt(stream);
    report.evaluatedTokens = await stream.catchUp(history, plan, signal);
    return { stream, report };
  }
}
