// Keeps the event loop turning while a GPU generates, so that the main thread never sleeps in
// epoll between a native call finishing on libuv's thread pool and its promise resolving.
//
// Why: node-llama-cpp makes two async native calls per token (decode, then sample). Each wakes a
// pool thread and then the main thread; on the H200 machine the wake-ups cost 0.06 ms per token of
// the engine's 3.3 ms on the 1.5B shape, and keeping the loop turning lifted the engine from 301.8
// to 321.2 tok/s (tinycoder 1564.9 → 1681.1; docs/gpu/h200-2026-12-02-run2.json, `speed-*-spin`).
// It costs one core while tokens are generated, as llama.cpp's own generation loop does (its CUDA
// synchronisation spins). Never on the CPU backend: there the core belongs to llama.cpp's threads.
// Pure (no node-llama-cpp): the owner decides when to hold it.

/** A hold that sees no token for this long lets the loop rest (a generation its consumer abandoned). */
export const hotEventLoopIdleMs = 500;

let holders = 0;
let turning = false;
let turns = 0;
let lastActivity = 0;

function turn(): void {
  turns++;
  if (holders > 0 && Date.now() - lastActivity < hotEventLoopIdleMs) setImmediate(turn);
  else turning = false;
}

function arm(): void {
  lastActivity = Date.now();
  if (holders > 0 && !turning) {
    turning = true;
    setImmediate(turn);
  }
}

export interface HotEventLoopHold {
  /** Call per token: the loop keeps turning while tokens come (and starts again after a pause). */
  touch(): void;
  /** Call once when the generation ends (more calls do nothing). */
  release(): void;
}

/** Starts (or joins) the turning for one generation. */
export function holdEventLoopHot(): HotEventLoopHold {
  holders++;
  arm();
  let released = false;
  return {
    touch: () => {
      if (!released) arm();
    },
    release: () => {
      if (released) return;
      released = true;
      holders--;
    },
  };
}

/** For tests and diagnostics: current holders, whether the chain runs, and how many turns it made. */
export function hotEventLoopState(): { holders: number; turning: boolean; turns: number } {
  return { holders, turning, turns };
}
