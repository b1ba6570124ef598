// The resumable part of a StreamingSequence beyond llama.cpp's KV state, and its check (pure).
import { emptyAccounting, type KvAccounting } from "./policy";

/**
 * What a StreamingSequence knows beyond llama.cpp's KV state: which stream position every cell
 * holds, the next position, the sink count and the accounting. Saved next to a KV snapshot
 * (server/kv/snapshot.ts) so a sequence whose KV state is loaded back continues exactly where the
 * saved one was, without evaluating anything.
 */
export interface StreamingSequenceState {
  /** Absolute stream index of every cell, in cell order (strictly increasing). */
  cellStreamIndices: number[];
  /** Absolute stream index the next new token gets. */
  streamNext: number;
  sinks: number;
  accounting: KvAccounting;
  kvCellsPeak: number;
}

/** Why `state` does not describe a sequence holding `cells` cells, or undefined when it does. */
export function restoredStateProblem(state: StreamingSequenceState, cells: number): string | undefined {
  const indices = state.cellStreamIndices;
  if (indices.length !== cells) return `it maps ${indices.length} cells but the sequence holds ${cells}`;
  if (!indices.every((abs, i) => Number.isInteger(abs) && abs >= 0 && (i === 0 || abs > indices[i - 1]!))) {
    return "its cell positions are not increasing";
  }
  if (!Number.isInteger(state.streamNext) || (cells > 0 && state.streamNext <= indices[cells - 1]!) || state.streamNext < cells) {
    return `its next stream position ${state.streamNext} is inconsistent`;
  }
  if (!Object.values(state.accounting ?? {}).every((value) => typeof value === "number" && Number.isFinite(value) && value >= 0)) {
    return "its accounting is not a set of non-negative numbers";
  }
  return undefined;
}

/** The accounting to continue with: the saved totals (missing ones start at 0), tokensSeen = streamNext. */
export function restoredAccounting(state: StreamingSequenceState): KvAccounting {
  const result = emptyAccounting();
  for (const key of Object.keys(result) as (keyof KvAccounting)[]) {
    if (typeof state.accounting[key] === "number") result[key] = state.accounting[key];
  }
  result.tokensSeen = state.streamNext;
  return result;
}
