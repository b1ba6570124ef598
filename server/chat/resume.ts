// Resume planning: how a saved chat stream (state.ts) lines up with the chat history the client sent.
import type { ChatHistoryMessage } from "../../common/protocol";
import { countInRange } from "../kv/pins";
import type { ChatStreamState } from "./state";

/** How a saved stream lines up with the chat history the client sent. */
export type ResumePlan =
  | { ok: true; append: ChatHistoryMessage[]; outside: string[] }
  | { ok: false; why: string };

/**
 * Checks a saved stream against the stored chat before anything is loaded: every message the saved
 * window still holds must be in `history`; messages after the newest one the stream knows are to be
 * appended (e.g. a turn interrupted by a crash after the snapshot); unknown older ones are outside.
 */
export function planResume(state: ChatStreamState, history: readonly ChatHistoryMessage[]): ResumePlan {
  const index = new Map(history.map((message, i) => [message.id, i]));
  const cells = state.sequence.cellStreamIndices;
  for (const segment of state.segments) {
    const length = segment.end - segment.start;
    if (length === 0 || countInRange(cells, segment.start, segment.end) === 0) continue;
    const at = index.get(segment.id);
    if (at === undefined || history[at]!.role !== segment.role) {
      return { ok: false, why: "the saved window holds messages the stored chat does not have" };
    }
  }
  const known = new Set([...state.segments.map((segment) => segment.id), ...state.notRestored]);
  let lastKnown = -1;
  history.forEach((message, i) => {
    if (known.has(message.id)) lastKnown = i;
  });
  if (lastKnown < 0 && state.segments.some((segment) => segment.end > segment.start) && history.length > 0) {
    return { ok: false, why: "none of the stored chat's messages are in it" };
  }
  const outside = history.slice(0, lastKnown + 1).filter((message) => !known.has(message.id)).map((message) => message.id);
  return { ok: true, append: history.slice(lastKnown + 1), outside };
}

/**
 * Where a chat rebuilt from its text starts: the index of the first of the newest messages whose
 * `cost` fits in `budget` tokens, moved on to a user message (`messages.length` when none fits).
 */
export function newestThatFit(messages: readonly ChatHistoryMessage[], budget: number, cost: (message: ChatHistoryMessage) => number): number {
  let left = budget;
  let first = messages.length;
  for (let i = messages.length - 1; i >= 0; i--) {
    const tokens = cost(messages[i]!);
    if (tokens > left) break;
    left -= tokens;
    first = i;
  }
  while (first < messages.length && messages[first]!.role !== "user") first++;
  return first;
}
