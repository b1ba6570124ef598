// A cancellable pause: inline completion requests wait this long after a keystroke, and the next
// keystroke (which cancels the token) ends the wait, so most keystrokes never reach the server.
// No `vscode` import: the token only needs the two members VS Code's CancellationToken has.

export interface CancellationLike {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => unknown): { dispose(): unknown };
}

/** Resolves true after `ms`, or false as soon as `token` is cancelled (never rejects). */
export function cancellableDelay(ms: number, token: CancellationLike): Promise<boolean> {
  if (token.isCancellationRequested) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      subscription.dispose();
      resolve(true);
    }, ms);
    const subscription = token.onCancellationRequested(() => {
      clearTimeout(timer);
      subscription.dispose();
      resolve(false);
    });
  });
}
