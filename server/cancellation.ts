// An LSP cancellation token as an AbortSignal (node-llama-cpp and node's streams take signals).
import type { CancellationToken } from "vscode-languageserver/node";

export function abortSignalFor(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}
