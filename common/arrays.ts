/**
 * Array helpers that stay safe for arrays of any length. `Math.max(...values)` and
 * `target.push(...source)` pass every element as a call argument and overflow the stack past
 * ~100K elements (a 4M-token benchmark lost its results to `Math.max(0, ...shiftDurations)`).
 */

/** The largest value, or `empty` for an empty array. */
export function maxOf(values: readonly number[], empty = 0): number {
  if (values.length === 0) return empty;
  let best = -Infinity;
  for (const value of values) if (value > best) best = value;
  return best;
}

/** The smallest value, or `empty` for an empty array. */
export function minOf(values: readonly number[], empty = 0): number {
  if (values.length === 0) return empty;
  let best = Infinity;
  for (const value of values) if (value < best) best = value;
  return best;
}

/** Appends every element of `source` to `target` (in place) and returns `target`. */
export function appendAll<T>(target: T[], source: readonly T[]): T[] {
  for (const item of source) target.push(item);
  return target;
}
