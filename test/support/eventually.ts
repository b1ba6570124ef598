// Waits for a condition instead of sleeping a fixed time: calls `probe` until it returns a value
// other than undefined (that value is the result), every `intervalMs`, for at most `timeoutMs`.
// A probe that throws ends the wait with its error (an assertion inside a probe fails at once).
import { inspect } from "node:util";

export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 50, what = "the condition" } = options;
  const deadline = performance.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last !== undefined) return last;
    if (performance.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - performance.now()))));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (last value: ${inspect(last)}).`);
}
