// Bounds for a model load: one AbortController per load, aborted when a newer configuration
// supersedes it or when it runs past `modelLoadTimeoutMs`; `untilAborted` stops waiting for a
// native step that ignores the signal, so the load queue is never stuck behind it.

/** No setting: a model that takes longer than this to load is refused with a message. */
export const modelLoadTimeoutMs = 120_000;

export class LoadAbortedError extends Error {
  constructor(
    message: string,
    readonly superseded: boolean,
  ) {
    super(message);
    this.name = "LoadAbortedError";
  }
}

export class LoadControl {
  readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly modelPath: string,
    timeoutMs = modelLoadTimeoutMs,
  ) {
    this.timer = setTimeout(() => {
      this.controller.abort(
        new LoadAbortedError(
          `Loading ${modelPath} took longer than ${Math.round(timeoutMs / 1000)} s, so StreamSink stopped waiting. ` +
            `Pick a smaller model, or check that the file is on a local disk.`,
          false,
        ),
      );
    }, timeoutMs);
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  supersede(): void {
    this.controller.abort(new LoadAbortedError(`Loading ${this.modelPath} was cancelled: another model was chosen.`, true));
  }

  /** Throws the abort reason if the load was aborted. */
  throwIfAborted(): void {
    if (this.signal.aborted) throw this.signal.reason as Error;
  }

  /**
   * Resolves with `work`, or rejects with the abort reason as soon as the load is aborted. What
   * `work` resolves with after that is handed to `discard` (e.g. a model that must be disposed).
   */
  untilAborted<T>(work: Promise<T>, discard?: (late: T) => void): Promise<T> {
    this.throwIfAborted();
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        reject(this.signal.reason as Error);
        work.then((late) => discard?.(late), () => undefined);
      };
      this.signal.addEventListener("abort", onAbort, { once: true });
      work.then(
        (value) => {
          this.signal.removeEventListener("abort", onAbort);
          if (this.signal.aborted) return;
          resolve(value);
        },
        (error: unknown) => {
          this.signal.removeEventListener("abort", onAbort);
          if (!this.signal.aborted) reject(error);
        },
      );
    });
  }

  finish(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Waits for `work` at most `ms`; resolves whether it settled. node-llama-cpp's Llama.dispose() waits
 * forever once a model load failed inside llama.cpp (the half-created model keeps a dispose guard),
 * so shutdown and backend switches must not wait on it unbounded.
 */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
