// Types for scripts/llamaTools.mjs (imported by benches and tests written in TypeScript).
export declare const llamaTargets: readonly ["llama-bench", "llama-completion", "llama-server", "ggml-rpc-server"];
export interface LlamaTools {
  dir: string;
  commit: string;
  "llama-bench": string;
  "llama-completion": string;
  "llama-server": string;
  "ggml-rpc-server": string;
}
/** The llama.cpp commit node-llama-cpp ships (12 hex digits). */
export declare function bundledCommit(): string;
/** Where the programs are (whether or not they are built yet). */
export declare function llamaToolsDir(): string;
/** Paths of the built programs, building what is missing (minutes once, cached in .tools/llama/<commit>). */
export declare function ensureLlamaTools(options?: { jobs?: number; targets?: readonly string[] }): LlamaTools;
