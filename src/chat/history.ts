// What the server reads of a stored chat when it does not hold its stream (chat/send, chat/open).
import type { ChatHistoryMessage } from "../../common/protocol";
import type { StoredChat } from "./store";

/** Stored messages sent along to rebuild a chat the server does not hold (the newest; pinned always). */
const historyLimit = 400;
/** What the server reads of a chat: the live messages (at most historyLimit) and the pinned ones the archive holds. */
export function historyOf(chat: StoredChat): ChatHistoryMessage[] {
  return [...(chat.archivedPins ?? []).map((record) => record.message), ...chat.messages]
    .filter((m, index, all) => m.pinned || index >= all.length - historyLimit)
    .filter((m) => m.role === "user" || m.text !== "")
    .map((m) => ({ id: m.id, role: m.role, text: m.prompt ?? m.text, ...(m.pinned ? { pinned: true } : {}) }));
}
