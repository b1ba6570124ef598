// The side-panel chat (issue 4). The server holds ONE chat stream in a StreamingLLM sequence: the
// chat template's BOS + system prompt (+ pinned messages) are the attention sinks, every turn is
// tokenized once and appended, and the oldest turns are evicted and shifted in place when the
// window fills — never re-tokenized, re-evaluated or summarized. Validation: server/chat/params.ts.
// Part of the StreamSink protocol (common/protocol/index.ts).
import { NotificationType, RequestType } from "vscode-languageserver-protocol";
import type { SequenceStats } from "../kvStats";

/** One earlier message of a chat, as the client stores it. */
export interface ChatHistoryMessage {
  id: string;
  role: "user" | "assistant";
  /** What the model saw (for a user message: attachments included). */
  text: string;
  pinned?: boolean;
}

/** Which messages of the current chat the model can still see. */
export interface ChatWindowState {
  chatId: string;
  /**
   * The oldest message (in the order the server read them, pins aside) that the model still sees, wholly
   * or partly. Every message of the chat before it has left the window (evicted, or not restored), except
   * pinned ones (pinnedInSink / pinnedPending). Absent: no message has left. A boundary, not a list, so
   * this notification stays the same size however long the chat grows.
   */
  firstInWindow?: string;
  /** Messages outside the window that are newer than firstInWindow (rare; at most 64). */
  outsideAfter: string[];
  /** How many messages of the chat are outside the window. */
  outsideCount: number;
  /** Messages whose oldest tokens have been evicted: the model sees only their end. */
  partial: string[];
  /** Pinned messages already held in the sink region (never evicted). */
  pinnedInSink: string[];
  /** Pinned messages still in the window; they join the sink region when the eviction front reaches them. */
  pinnedPending: string[];
  /** Tokens the pinned messages use (in the sink or reserved for it). */
  pinnedTokens: number;
  /** Most tokens pinned messages may use (a quarter of the window). */
  pinBudget: number;
  /** Sink tokens of the template (BOS + system prompt), without pins. */
  templateSinks: number;
  kvCells: number;
  contextSize: number;
  shifts: number;
  tokensEvicted: number;
}

export interface ChatSendParams {
  /** The chat this message belongs to (1..128 chars). A different chat than the server holds starts a new stream. */
  chatId: string;
  userMessageId: string;
  assistantMessageId: string;
  /** The user's message as the model should see it (attachments included). */
  text: string;
  /**
   * The chat's earlier messages, oldest first. Used only when the server does not hold this chat
   * (first message after a restart, or another chat was open): pinned ones and the newest that fit
   * are evaluated into a new stream. Ignored otherwise.
   */
  history: ChatHistoryMessage[];
  /** Most tokens of the answer (1..4096, default 512). */
  maxTokens?: number;
  /** Sampling temperature (0..2, default 0.7); 0 = greedy. */
  temperature?: number;
  /** Fixed sampling seed (tests and benchmarks). */
  seed?: number;
}

export interface ChatSendResult {
  chatId: string;
  assistantMessageId: string;
  /** The answer as shown (stop text removed). */
  text: string;
  stopReason: "end" | "maxTokens" | "cancelled";
  /** With stopReason "cancelled": who cancelled (absent = the client's request was cancelled: the user's Stop). */
  cancelReason?: ChatCancelReason;
  /** Tokens of the new user turn (template included) appended to the stream. */
  promptTokens: number;
  generatedTokens: number;
  /** Tokens evaluated to rebuild a stream from `history` (0 when the server held the chat, or when it
   * was restored from a KV snapshot that holds every stored message). */
  restoredTokens: number;
  /** Present when this message (re)created the chat's stream: how it was restored. */
  restore?: ChatRestoreReport;
  /** Tokens decoded on the chat sequence for this message, restoring included: node-llama-cpp's token
   * meter (input + output) less the cells it also charges as input for shifting them in place. */
  decodedTokens: number;
  promptMs: number;
  generationMs: number;
  durationMs: number;
  /** With stopReason "cancelled": ms from the cancellation's arrival in the server to the sequence being free again. */
  stopLatencyMs?: number;
  /** Most KV cells the chat sequence held during this answer (checked after every token). */
  kvCellsMax: number;
  window: ChatWindowState;
  stats: SequenceStats;
}

/** Why an answer ended early: the user's Stop, a settings or model change that unloaded the chat's
 * context, the chat being reset; "serverRestarted" and "reload" are set by the client (the server was
 * gone, or the window closed while the answer streamed). */
export type ChatCancelReason = "stop" | "settingsChanged" | "modelChanged" | "reset" | "serverRestarted" | "reload";

/** How a chat's stream was (re)created after a restart, a reload or a switch of chats. */
export interface ChatRestoreReport {
  /** "snapshot": the KV state was loaded from the saved snapshot (nothing re-evaluated);
   * "history": rebuilt by evaluating the stored messages (`note` says why no snapshot was used). */
  source: "snapshot" | "history";
  /** KV cells loaded from the snapshot (0 when rebuilt). */
  snapshotTokens: number;
  /** With "snapshot": sha256 (hex) of JSON.stringify(the loaded sequence's token ids). */
  tokensSha256?: string;
  /** The token meter right after loading the snapshot (input and output tokens: 0 = nothing evaluated). */
  loadMeter: { input: number; output: number };
  /** The stream's length (every token appended since the chat began) once loaded. */
  streamTokens: number;
  /** Tokens evaluated for stored messages: those newer than the snapshot, or all rebuilt ones. */
  evaluatedTokens: number;
  /** Why the snapshot was not used (none saved, another chat, another model, other settings…). */
  note?: string;
}

/** Sent by the client: appends a user message and generates the answer; resolves when it ends. Cancel the request to stop. */
export namespace ChatSendRequest {
  export const method = "streamsink/chat/send" as const;
  export const type = new RequestType<ChatSendParams, ChatSendResult, void>(method);
}

export interface ChatToken {
  chatId: string;
  assistantMessageId: string;
  /** New text of the answer since the previous notification. */
  delta: string;
}

/** Sent by the server while a ChatSendRequest generates: the answer's text as it streams. */
export namespace ChatTokenNotification {
  export const method = "streamsink/chat/token" as const;
  export const type = new NotificationType<ChatToken>(method);
}

/** Sent by the server when the window moves (an eviction mid-answer, a pin, a reset). */
export namespace ChatWindowNotification {
  export const method = "streamsink/chat/window" as const;
  export const type = new NotificationType<ChatWindowState>(method);
}

export interface ChatResetParams {
  /** Reset only if the server holds this chat; absent = whatever it holds. */
  chatId?: string;
}

/** Sent by the client (New chat, deleting a chat): stops any answer and drops the chat stream. */
export namespace ChatResetRequest {
  export const method = "streamsink/chat/reset" as const;
  export const type = new RequestType<ChatResetParams, { reset: boolean }, void>(method);
}

export interface ChatPinParams {
  chatId: string;
  messageId: string;
  pinned: boolean;
}

export interface ChatPinResult {
  /** false when the pin could not be applied; `message` says why. */
  ok: boolean;
  message?: string;
  window?: ChatWindowState;
}

/** Sent by the client: pins (keeps in the sink region) or unpins a message of the chat the server holds. */
export namespace ChatPinRequest {
  export const method = "streamsink/chat/pin" as const;
  export const type = new RequestType<ChatPinParams, ChatPinResult, void>(method);
}

export interface ChatOpenParams {
  chatId: string;
  /** The chat's stored messages, as for ChatSendParams.history. */
  history: ChatHistoryMessage[];
}

export interface ChatOpenResult {
  /** True when the server now holds this chat's stream (already, or loaded from its KV snapshot). */
  restored: boolean;
  /** Why not, or how (for the log). */
  note?: string;
  window?: ChatWindowState;
  restore?: ChatRestoreReport;
}

/**
 * After a reload or restart, when the model is ready and a chat with messages is shown, the server
 * loads that chat's KV snapshot (never its text) so the meter, fill and diagnostics show it at once.
 * Sent by the client.
 */
export namespace ChatOpenRequest {
  export const method = "streamsink/chat/open" as const;
  export const type = new RequestType<ChatOpenParams, ChatOpenResult, void>(method);
}
