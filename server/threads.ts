// How many CPU threads llama.cpp gets: the rule behind `streamsink.threads`. Pure (no node-llama-cpp),
// so the rule is unit-tested and the benchmark (bench/threads.ts) uses the same one.
//
// The rule: "auto" = physical cores − 1, at least 1 and at most the logical cores. A model that runs
// next to the editor must leave the editor (and its webviews, the TypeScript server…) a core: with
// every core busy, llama.cpp's threads spin at each decode barrier while the editor preempts one of
// them, and a token costs many times more (measured in docs/BENCHMARKS.md, "Threads"). An explicit
// number is honoured up to the logical cores (more threads than cores only adds that contention).

export interface CpuCores {
  /** Cores that are useful for math (llama.cpp's count: physical, performance cores). */
  physical: number;
  /** Logical processors the OS schedules (os.availableParallelism()). */
  logical: number;
}

export interface ThreadChoice {
  threads: number;
  /** Why an explicit setting was lowered, for the log; absent when it was used as is. */
  notice?: string;
}

function count(value: number): number {
  return Number.isFinite(value) && value >= 1 ? Math.floor(value) : 1;
}

/** The thread count for a `streamsink.threads` value on a machine with these cores. */
export function resolveThreads(setting: "auto" | number, cores: CpuCores): ThreadChoice {
  const logical = count(cores.logical);
  const physical = Math.min(count(cores.physical), logical);
  if (setting === "auto") return { threads: Math.max(1, Math.min(logical, physical - 1)) };
  const wanted = count(setting);
  if (wanted <= logical) return { threads: wanted };
  return {
    threads: logical,
    notice: `streamsink.threads = ${wanted} is more than the ${logical} logical cores of this machine; using ${logical}.`,
  };
}

/** The rule in words (README, settings description, diagnostics). */
export const threadsRule = "auto = physical cores − 1 (at least 1, at most the logical cores), leaving the editor a core";
