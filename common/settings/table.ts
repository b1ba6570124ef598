// The settings table: every `streamsink.*` setting once, with its type, default, range or choices
// and the description the Settings editor shows. `contributes.configuration` in package.json is
// generated from it (`npm run settings:schema`, common/settings/schema.ts) and a unit test fails on
// any drift; common/settings/index.ts sanitises raw values against it. Pure: no `vscode` import.

export const backends = ["auto", "cuda", "vulkan", "metal", "cpu"] as const;
export const logLevels = ["error", "warn", "info", "debug", "trace"] as const;
/** Speculative decoding modes (server/kv/speculation.ts decides what runs). */
export const speculativeModes = ["auto", "off", "lookup", "draft"] as const;
/** vscode-languageclient's protocol trace (read by the client library, not sanitised here). */
export const traceLevels = ["off", "messages", "verbose"] as const;

interface Common {
  /** Position in the Settings editor. */
  order: number;
  scope?: "machine-overridable" | "window";
  /** Markdown shown in the Settings editor (`markdownDescription`). */
  description: string;
}

/** One setting. Ranges bound what the code accepts (values outside are clamped, with a problem). */
export type SettingSpec = Common &
  (
    | { type: "string"; default: string }
    | { type: "boolean"; default: boolean }
    | { type: "enum"; values: readonly string[]; default: string; enumDescriptions?: readonly string[] }
    /**
     * `schemaMax: false`: package.json states no maximum (the Settings editor flags nothing); the
     * bound only keeps absurd values from llama.cpp.
     */
    | { type: "integer"; default: number; min: number; max: number; schemaMax?: false }
    /** "auto" or an integer in range. */
    | { type: "autoInteger"; default: "auto"; min: number; max: number; schemaMax?: false }
    /** Language id → enabled, or a list of language ids. */
    | { type: "languages"; default: Readonly<Record<string, boolean>> }
    /** A list of host names (`name` or `name:port`). */
    | { type: "hosts"; default: readonly string[] }
  );

/** Every setting, keyed below `streamsink.`, in the order package.json lists them. */
export const settingsTable = {
  "model.path": {
    type: "string",
    default: "",
    scope: "machine-overridable",
    order: 0,
    description:
      "Absolute path of the GGUF model file to run (for example a Qwen2.5-Coder or Llama 3.2 instruct model). `~` and `${userHome}` are expanded.",
  },
  "model.backend": {
    type: "enum",
    default: "auto",
    values: backends,
    order: 1,
    enumDescriptions: [
      "Best available: Metal on Apple Silicon, CUDA or Vulkan on Linux and Windows, else CPU.",
      "NVIDIA CUDA.",
      "Vulkan (AMD, Intel, NVIDIA).",
      "Apple Metal.",
      "CPU only.",
    ],
    description:
      "llama.cpp compute backend. A backend that is not available falls back to the CPU with a notice. Changing it restarts the server.",
  },
  "model.gpuLayers": {
    type: "autoInteger",
    default: "auto",
    min: 0,
    max: 10_000,
    schemaMax: false,
    order: 2,
    description:
      "Model layers to offload to the GPU: `\"auto\"` fits as many as the free VRAM allows, or a number (0 = CPU only).",
  },
  "context.size": {
    type: "autoInteger",
    default: "auto",
    min: 256,
    max: 1_048_576,
    order: 3,
    description:
      "KV cache size in tokens per sequence (chat and completions each have one). `\"auto\"` = the context the model was trained with (e.g. 512 for tinycoder, 32,768 for Qwen2.5-Coder), lowered if memory does not allow it; the size in use is shown in *StreamSink: Show Cache Diagnostics*. A number larger than the trained context works but answers degrade (a warning says so): StreamingLLM keeps quality over endless sessions with a window of the training length. llama.cpp rounds sizes up to a multiple of 256. Memory stays fixed at this size however long a session runs.",
  },
  "context.sinkTokens": {
    type: "integer",
    default: 4,
    min: 0,
    max: 1024,
    order: 4,
    description:
      "Attention-sink tokens: the first tokens of a sequence, kept in the KV cache forever (StreamingLLM). 4 suffices for most models; 0 disables sinks (plain sliding window, much worse quality).",
  },
  "context.shiftSize": {
    type: "integer",
    default: 0,
    min: 0,
    max: 1_048_576,
    schemaMax: false,
    order: 5,
    description:
      "Tokens evicted at once when the cache is full (positions are shifted in place). `0` = automatic: enough to make room plus a margin.",
  },
  "threads": {
    type: "autoInteger",
    default: "auto",
    min: 1,
    max: 512,
    schemaMax: false,
    order: 6,
    description:
      "CPU threads for evaluation: `\"auto\"` = physical cores − 1 (at least 1), leaving the editor a core — on a busy machine a thread per core made tokens many times slower (docs/BENCHMARKS.md, *Threads*); or a number, capped at the logical cores.",
  },
  "logLevel": {
    type: "enum",
    default: "info",
    values: logLevels,
    order: 7,
    description:
      "How much the server writes to the StreamSink log.",
  },
  "trace.server": {
    type: "enum",
    default: "off",
    values: traceLevels,
    scope: "window",
    order: 8,
    description:
      "Traces the protocol messages between VS Code and the StreamSink server into the log.",
  },
  "completions.enable": {
    type: "boolean",
    default: true,
    order: 20,
    description:
      "Inline (ghost text) code completions from the local model while you type. `Tab` accepts; VS Code's *Accept Next Word* / *Accept Next Line* accept part of it. Trigger one by hand with `Alt+\\`.",
  },
  "completions.languages": {
    type: "languages",
    default: {"*": true},
    order: 21,
    description:
      "Languages with inline completions, by language id: `{\"*\": true, \"markdown\": false}` turns them off for Markdown only; `{\"*\": false, \"python\": true}` keeps only Python. A list of language ids (`[\"python\", \"typescript\"]`) enables just those.",
  },
  "completions.maxTokens": {
    type: "integer",
    default: 48,
    min: 1,
    max: 512,
    order: 22,
    description:
      "Most tokens generated for one suggestion. Suggestions also end at `#streamsink.completions.maxLines#`, a blank line, the end of the block, or code that already follows the cursor.",
  },
  "completions.maxLines": {
    type: "integer",
    default: 8,
    min: 1,
    max: 100,
    order: 23,
    description:
      "Most lines in one suggestion. With text after the cursor on its line, suggestions stay on that line.",
  },
  "completions.debounceMs": {
    type: "integer",
    default: 50,
    min: 0,
    max: 5000,
    order: 24,
    description:
      "Pause (ms) after the last keystroke before a suggestion is requested; keystrokes during the pause cancel it, so they never reach the model. The default was chosen by measurement (docs/BENCHMARKS.md, *Completions*).",
  },
  "download.allowHttpHosts": {
    type: "hosts",
    default: [],
    order: 40,
    description:
      "Hosts (`name` or `name:port`, no scheme) that **StreamSink: Download Model** may fetch over plain `http://`. Everything else must be `https://`: plain http can be read and changed on the way. Only list hosts you trust on networks you trust (e.g. a model mirror on your LAN).",
  },
  "speculative": {
    type: "enum",
    default: "off",
    values: speculativeModes,
    order: 30,
    enumDescriptions: [
      "A draft model when `#streamsink.speculativeDraftModelPath#` is set and shares this model's vocabulary, else prompt lookup.",
      "No speculation: one token per decode.",
      "Prompt lookup: predicts tokens by finding the last generated tokens in the prompt (cheap; helps when answers copy the code they were given).",
      "A small draft model (`#streamsink.speculativeDraftModelPath#`) predicts tokens; falls back to prompt lookup when it is missing or its vocabulary differs.",
    ],
    description:
      "Speculative decoding for chat answers and completions: predicted tokens are verified by the model in one batch, so the output is the same as without it, only faster when predictions are often right. **Off by default because on the CPU it was slower**: verifying a batch of predicted tokens costs nearly as much CPU as generating them one by one (one decode of 4 tokens took 2.3–3× the CPU time of one token), so with tinycoder prompt lookup lost time even on copy-heavy edits and on novel text (docs/BENCHMARKS.md, *Speculative decoding (CPU)*). Try `lookup` on a GPU, where a small batch costs about as much as one token. Changing it recreates the model's contexts.",
  },
  "speculativeDraftModelPath": {
    type: "string",
    default: "",
    order: 31,
    description:
      "GGUF file of a small draft model for `#streamsink.speculative#` = `draft` or `auto`. It must use the same vocabulary as the main model (checked: vocabulary size and a sample of token texts); otherwise prompt lookup is used and the log says why. `~` and `${userHome}` are expanded.",
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof settingsTable;
