// Validation of the chat protocol's parameters on receipt (the client is trusted no more than any
// other process). Pure: returns the typed value or a message saying what is wrong.
import type { ChatHistoryMessage, ChatOpenParams, ChatPinParams, ChatResetParams, ChatSendParams } from "../../common/protocol";
import { isFiniteIn, isInteger, isRecord, isString } from "../../common/validate";

export const chatLimits = {
  idLength: 128,
  /** Characters of one message (a whole attached file fits). */
  textLength: 400_000,
  historyMessages: 10_000,
  maxTokens: 4096,
  defaultMaxTokens: 512,
  defaultTemperature: 0.7,
} as const;

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

function isId(value: unknown): value is string {
  return isString(value, chatLimits.idLength) && value.length > 0;
}

function historyMessage(value: unknown): value is ChatHistoryMessage {
  return (
    isRecord(value) &&
    isId(value.id) &&
    (value.role === "user" || value.role === "assistant") &&
    isString(value.text, chatLimits.textLength) &&
    (value.pinned === undefined || typeof value.pinned === "boolean")
  );
}

function checkHistory(history: unknown): string | undefined {
  if (!Array.isArray(history) || history.length > chatLimits.historyMessages) {
    return `history must be an array of at most ${chatLimits.historyMessages} messages.`;
  }
  const badIndex = history.findIndex((message) => !historyMessage(message));
  if (badIndex >= 0) return `history[${badIndex}] must be {id, role: "user" | "assistant", text, pinned?}.`;
  return undefined;
}

export function checkChatOpenParams(raw: unknown): Checked<ChatOpenParams> {
  const bad = (message: string): Checked<never> => ({ ok: false, message: `streamsink/chat/open: ${message}` });
  if (!isRecord(raw)) return bad("parameters must be an object.");
  if (!isId(raw.chatId)) return bad(`chatId must be a string of 1..${chatLimits.idLength} characters.`);
  const historyProblem = checkHistory(raw.history);
  if (historyProblem !== undefined) return bad(historyProblem);
  return { ok: true, value: { chatId: raw.chatId, history: raw.history as ChatHistoryMessage[] } };
}

export function checkChatSendParams(raw: unknown): Checked<Required<Omit<ChatSendParams, "seed">> & { seed?: number }> {
  const bad = (message: string): Checked<never> => ({ ok: false, message: `streamsink/chat/send: ${message}` });
  if (!isRecord(raw)) return bad("parameters must be an object.");
  if (!isId(raw.chatId)) return bad(`chatId must be a string of 1..${chatLimits.idLength} characters.`);
  if (!isId(raw.userMessageId) || !isId(raw.assistantMessageId)) {
    return bad(`userMessageId and assistantMessageId must be strings of 1..${chatLimits.idLength} characters.`);
  }
  if (!isString(raw.text, chatLimits.textLength) || raw.text.trim() === "") {
    return bad(`text must be a non-empty string of at most ${chatLimits.textLength} characters.`);
  }
  const historyProblem = checkHistory(raw.history);
  if (historyProblem !== undefined) return bad(historyProblem);
  if (raw.maxTokens !== undefined && !isInteger(raw.maxTokens, 1, chatLimits.maxTokens)) {
    return bad(`maxTokens must be an integer in 1..${chatLimits.maxTokens}.`);
  }
  if (raw.temperature !== undefined && !isFiniteIn(raw.temperature, 0, 2)) return bad("temperature must be in 0..2.");
  if (raw.seed !== undefined && !isInteger(raw.seed, 0, 2 ** 31 - 1)) return bad("seed must be a non-negative integer.");
  return {
    ok: true,
    value: {
      chatId: raw.chatId,
      userMessageId: raw.userMessageId,
      assistantMessageId: raw.assistantMessageId,
      text: raw.text,
      history: raw.history as ChatHistoryMessage[],
      maxTokens: (raw.maxTokens as number | undefined) ?? chatLimits.defaultMaxTokens,
      temperature: (raw.temperature as number | undefined) ?? chatLimits.defaultTemperature,
      ...(raw.seed !== undefined ? { seed: raw.seed as number } : {}),
    },
  };
}

export function checkChatResetParams(raw: unknown): Checked<ChatResetParams> {
  if (raw === undefined || raw === null) return { ok: true, value: {} };
  if (!isRecord(raw) || (raw.chatId !== undefined && !isId(raw.chatId))) {
    return { ok: false, message: "streamsink/chat/reset: expected {chatId?: string}." };
  }
  return { ok: true, value: raw.chatId === undefined ? {} : { chatId: raw.chatId } };
}

export function checkChatPinParams(raw: unknown): Checked<ChatPinParams> {
  if (!isRecord(raw) || !isId(raw.chatId) || !isId(raw.messageId) || typeof raw.pinned !== "boolean") {
    return { ok: false, message: "streamsink/chat/pin: expected {chatId: string, messageId: string, pinned: boolean}." };
  }
  return { ok: true, value: { chatId: raw.chatId, messageId: raw.messageId, pinned: raw.pinned } };
}
