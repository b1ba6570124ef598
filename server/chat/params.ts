// Validation of the chat protocol's parameters on receipt (the client is trusted no more than any
// other process). Pure: returns the typed value or a message saying what is wrong.
import type { ChatHistoryMessage, ChatOpenParams, ChatPinParams, ChatResetParams, ChatSendParams } from "../../common/protocol";
import { array, boolean, check, int, number, object, oneOf, optional, refine, string, withMessage, type Checked } from "../../common/validate";

export type { Checked } from "../../common/validate";

export const chatLimits = {
  idLength: 128,
  /** Characters of one message (a whole attached file fits). */
  textLength: 400_000,
  historyMessages: 10_000,
  maxTokens: 4096,
  defaultMaxTokens: 512,
  defaultTemperature: 0.7,
} as const;

const id = string(chatLimits.idLength, 1);
const idMessage = `must be a string of 1..${chatLimits.idLength} characters.`;

const historyMessage = object({
  id,
  role: oneOf("user", "assistant"),
  text: string(chatLimits.textLength),
  pinned: optional(boolean),
});

const chatId = withMessage(id, `chatId ${idMessage}`);
const history = withMessage(array(historyMessage, chatLimits.historyMessages), (failure) =>
  failure.at === undefined
    ? `history must be an array of at most ${chatLimits.historyMessages} messages.`
    : `history${failure.at.replace(/^(\[\d+\]).*$/, "$1")} must be {id, role: "user" | "assistant", text, pinned?}.`,
);
/** The top-level failure of an object whose fields all have their own messages: not an object. */
const objectMessage = (failure: { message: string; final?: true }) => (failure.final ? failure.message : "parameters must be an object.");

const openParams = withMessage(object({ chatId, history }), objectMessage);

export function checkChatOpenParams(raw: unknown): Checked<ChatOpenParams> {
  const checked = check(openParams, raw, "streamsink/chat/open: ");
  return checked.ok ? { ok: true, value: { chatId: checked.value.chatId, history: checked.value.history as ChatHistoryMessage[] } } : checked;
}

const sendParams = object({
  chatId,
  userMessageId: withMessage(id, `userMessageId and assistantMessageId ${idMessage.replace("a string", "strings")}`),
  assistantMessageId: withMessage(id, `userMessageId and assistantMessageId ${idMessage.replace("a string", "strings")}`),
  text: withMessage(
    refine(string(chatLimits.textLength), (text) => text.trim() !== "", "empty"),
    `text must be a non-empty string of at most ${chatLimits.textLength} characters.`,
  ),
  history,
  maxTokens: withMessage(optional(int(1, chatLimits.maxTokens)), `maxTokens must be an integer in 1..${chatLimits.maxTokens}.`),
  temperature: withMessage(optional(number(0, 2)), "temperature must be in 0..2."),
  seed: withMessage(optional(int(0, 2 ** 31 - 1)), "seed must be a non-negative integer."),
});

export function checkChatSendParams(raw: unknown): Checked<Required<Omit<ChatSendParams, "seed">> & { seed?: number }> {
  const checked = check(withMessage(sendParams, objectMessage), raw, "streamsink/chat/send: ");
  if (!checked.ok) return checked;
  const { maxTokens, temperature, seed, history, ...rest } = checked.value;
  return {
    ok: true,
    value: {
      ...rest,
      history: history as ChatHistoryMessage[],
      maxTokens: maxTokens ?? chatLimits.defaultMaxTokens,
      temperature: temperature ?? chatLimits.defaultTemperature,
      ...(seed !== undefined ? { seed } : {}),
    },
  };
}

const resetParams = withMessage(object({ chatId: optional(id) }), "streamsink/chat/reset: expected {chatId?: string}.");

export function checkChatResetParams(raw: unknown): Checked<ChatResetParams> {
  if (raw === undefined || raw === null) return { ok: true, value: {} };
  return check(resetParams, raw);
}

const pinParams = withMessage(
  object({ chatId: id, messageId: id, pinned: boolean }),
  "streamsink/chat/pin: expected {chatId: string, messageId: string, pinned: boolean}.",
);

export function checkChatPinParams(raw: unknown): Checked<ChatPinParams> {
  return check(pinParams, raw);
}
