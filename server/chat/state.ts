// The saved-state format of a ChatStream (stream.ts), kept next to its KV snapshot, and its check.
import type { Pin } from "../kv/pins";
import type { StreamingSequenceState } from "../kv/sequenceState";

/** One message of the stream: absolute stream indices [start, end). */
export interface Segment {
  id: string;
  role: "user" | "assistant";
  start: number;
  end: number;
}

/**
 * Everything a ChatStream knows beyond the KV cache, saved with a KV snapshot (server/chat/service.ts)
 * so a stream whose KV state is loaded back maps the chat's messages onto the restored cells.
 */
export interface ChatStreamState {
  version: 1;
  chatId: string;
  templateSinks: number;
  segments: Segment[];
  pins: Pin[];
  notRestored: string[];
  hasTurns: boolean;
  answerTail: string;
  sequence: StreamingSequenceState;
}

/** `value` (read back from disk) as a ChatStreamState, or undefined when it is not one. */
export function parseChatStreamState(value: unknown): ChatStreamState | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const state = value as Partial<ChatStreamState>;
  const isCount = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0;
  const isRange = (r: { id?: unknown; start?: unknown; end?: unknown }) =>
    typeof r.id === "string" && isCount(r.start) && isCount(r.end) && r.end >= r.start;
  const sequence = state.sequence as Partial<StreamingSequenceState> | undefined;
  const ok =
    state.version === 1 &&
    typeof state.chatId === "string" &&
    isCount(state.templateSinks) &&
    Array.isArray(state.segments) &&
    state.segments.every((s) => typeof s === "object" && s !== null && isRange(s) && (s.role === "user" || s.role === "assistant")) &&
    Array.isArray(state.pins) &&
    state.pins.every((p) => typeof p === "object" && p !== null && isRange(p) && typeof p.absorbed === "boolean" && isCount(p.sinkEnd)) &&
    Array.isArray(state.notRestored) &&
    state.notRestored.every((id) => typeof id === "string") &&
    typeof state.hasTurns === "boolean" &&
    typeof state.answerTail === "string" &&
    typeof sequence === "object" &&
    sequence !== null &&
    Array.isArray(sequence.cellStreamIndices) &&
    sequence.cellStreamIndices.every(isCount) &&
    isCount(sequence.streamNext) &&
    isCount(sequence.sinks) &&
    typeof sequence.accounting === "object" &&
    sequence.accounting !== null &&
    isCount(sequence.kvCellsPeak);
  return ok ? (state as ChatStreamState) : undefined;
}
