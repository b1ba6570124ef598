// Where a chat's messages are in its stream: one segment [start, end) of absolute stream indices
// per message, the stored messages never evaluated into it (restored chats), and the view of them
// the client shows (which messages the model still sees, given the cells the cache holds).
import type { ChatWindowState } from "../../common/protocol";
import { countInRange, type Pin } from "../kv/pins";
import type { ChatStreamState, Segment } from "./state";

type TranscriptWindow = Pick<ChatWindowState, "firstInWindow" | "outsideAfter" | "outsideCount" | "partial" | "pinnedInSink" | "pinnedPending">;

export class Transcript {
  private readonly segments: Segment[] = [];
  private readonly byId = new Map<string, Segment>();
  /** Ids of stored messages that were not evaluated into this stream (restored chats). */
  private readonly notRestored = new Set<string>();

  get(id: string): Segment | undefined {
    return this.byId.get(id);
  }

  /** Records (or moves) message `id` to [start, end). */
  add(id: string, role: Segment["role"], start: number, end: number): void {
    const segment = { id, role, start, end };
    const previous = this.byId.get(id);
    if (previous) this.segments.splice(this.segments.indexOf(previous), 1);
    this.segments.push(segment);
    this.byId.set(id, segment);
    this.notRestored.delete(id);
  }

  /** A stored message that was not evaluated into this stream. */
  markNotRestored(id: string): void {
    this.notRestored.add(id);
  }

  exportState(): Pick<ChatStreamState, "segments" | "notRestored"> {
    return { segments: this.segments.map((segment) => ({ ...segment })), notRestored: [...this.notRestored] };
  }

  adoptState(state: Pick<ChatStreamState, "segments" | "notRestored">): void {
    for (const segment of state.segments) this.add(segment.id, segment.role, segment.start, segment.end);
    for (const id of state.notRestored) if (!this.byId.has(id)) this.notRestored.add(id);
  }

  /** The messages' side of the window state, for a cache holding `cells` (absolute indices, sorted). */
  window(cells: readonly number[], pins: ReadonlyMap<string, Pin>): TranscriptWindow {
    // A boundary, not a list of every evicted message: the oldest unpinned message still (partly)
    // held. Messages the server read before it are outside; a few newer ones may be too (outsideAfter).
    const partial: string[] = [];
    const held = new Map<Segment, number>();
    let first: Segment | undefined;
    for (const segment of this.segments) {
      const length = segment.end - segment.start;
      const count = length === 0 ? 0 : countInRange(cells, segment.start, segment.end);
      held.set(segment, count);
      if (count > 0 && count < length) partial.push(segment.id);
      if (count > 0 && !pins.has(segment.id) && (first === undefined || segment.start < first.start)) first = segment;
    }
    let outsideCount = 0;
    const outsideAfter: string[] = [];
    if (first !== undefined) {
      outsideCount = [...this.notRestored].filter((id) => !pins.has(id)).length;
      for (const segment of this.segments) {
        if (pins.has(segment.id) || held.get(segment)! > 0) continue;
        if (segment.start < first.start) outsideCount++;
        else if (segment.end > segment.start && outsideAfter.length < 64) outsideAfter.push(segment.id);
      }
      outsideCount += outsideAfter.length;
    }
    const pinnedInSink: string[] = [];
    const pinnedPending: string[] = [];
    for (const pin of pins.values()) (pin.absorbed ? pinnedInSink : pinnedPending).push(pin.id);
    return {
      ...(first !== undefined ? { firstInWindow: first.id } : {}),
      outsideAfter,
      outsideCount,
      partial,
      pinnedInSink,
      pinnedPending,
    };
  }
}
