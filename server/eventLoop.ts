// How long the server's event loop was blocked: a perf_hooks histogram of the event loop's delay,
// sampled every `resolution` ms. A request, a notification or a document change that blocks the loop
// (tokenizing megabytes, copying a huge document) shows up as its maximum. Read through the
// completion stats (`maxEventLoopStallMs`); benchmarks reset it after the model has loaded.
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/**
 * Sampling period in ms. The histogram records the time between ticks (the period plus any block),
 * so the stall is max - period: exact for a block that starts at a tick, up to one period short
 * for one that starts just before the next (so at most 5 ms under the true figure).
 */
export const eventLoopResolutionMs = 5;

let histogram: IntervalHistogram | undefined;

/** Starts measuring (idempotent). */
export function startEventLoopMonitor(): void {
  if (histogram !== undefined) return;
  histogram = monitorEventLoopDelay({ resolution: eventLoopResolutionMs });
  histogram.enable();
}

/**
 * The longest the event loop was blocked since the start or the last reset, in ms (0 when not
 * measuring). A sample is the time between two timer ticks; the expected period is subtracted.
 */
export function maxEventLoopStallMs(): number {
  if (histogram === undefined || histogram.count === 0) return 0;
  return Math.max(0, Math.round((histogram.max / 1e6 - eventLoopResolutionMs) * 10) / 10);
}

export function resetEventLoopStall(): void {
  histogram?.reset();
}
