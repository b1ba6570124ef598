// node-llama-cpp is ESM with top-level await, so the CommonJS server bundle cannot require() it:
// it stays external (esbuild.js) and is loaded once with a dynamic import() here.
// Everything else in server/ imports only its types.
export type LlamaCpp = typeof import("node-llama-cpp");

let loading: Promise<LlamaCpp> | undefined;

export function loadLlamaCpp(): Promise<LlamaCpp> {
  loading ??= import("node-llama-cpp");
  return loading;
}
