// The one typed settings object of StreamSink, and the one place raw configuration values are
// sanitised into it. Pure: no `vscode` import. The client reads VS Code's configuration, passes the
// raw values here, and sends the result to the server (which never reads settings itself). Every
// setting's default, range and description is in the settings table (./table.ts).
import { backends, logLevels, settingsTable as table, speculativeModes } from "./table";

export { backends, logLevels, settingsTable, speculativeModes, traceLevels, type SettingKey, type SettingSpec } from "./table";
export type Backend = (typeof backends)[number];
export type LogLevel = (typeof logLevels)[number];
export type SpeculativeMode = (typeof speculativeModes)[number];

export interface Settings {
  model: {
    /** Absolute path of a GGUF file, or "" when none is configured. */
    path: string;
    backend: Backend;
    /** "auto" fits as many layers as the free VRAM allows; a number is an explicit layer count. */
    gpuLayers: "auto" | number;
  };
  context: {
    /**
     * Requested KV cache size in tokens (the real size is rounded up by llama.cpp). "auto" = the
     * model's training context, bounded by the memory guarantee: resolved by the server, which
     * knows the model (server/model/memoryGuard.ts), and reported in diagnostics.
     */
    size: "auto" | number;
    /**
     * Attention-sink tokens kept forever at the start of every sequence. Bounded here by the
     * table's static range only; against the context size by the server (server/kv/policy.ts).
     */
    sinkTokens: number;
    /** Tokens evicted per shift; 0 = automatic (enough to make room plus a margin). */
    shiftSize: number;
  };
  /**
   * CPU threads for evaluation; "auto" = physical cores − 1 (≥ 1, ≤ logical cores), explicit values
   * capped at the logical cores (server/threads.ts). Always passed explicitly.
   */
  threads: "auto" | number;
  logLevel: LogLevel;
  completions: CompletionSettings;
  download: DownloadSettings;
  /** Speculative decoding (server/kv/speculation.ts). Field names mirror the setting keys. */
  speculative: SpeculativeMode;
  /** GGUF file of the draft model, or "". */
  speculativeDraftModelPath: string;
}

/** Model downloads. */
export interface DownloadSettings {
  /** Hosts (`name` or `name:port`) that models may be downloaded from over plain http://. */
  allowHttpHosts: string[];
}

/** Inline (ghost text) completions. */
export interface CompletionSettings {
  /** Master switch. */
  enable: boolean;
  /** Language id → enabled; the key "*" is the default for languages not listed. */
  languages: Record<string, boolean>;
  /** Upper bound on generated tokens per suggestion. */
  maxTokens: number;
  /** Upper bound on lines per suggestion. */
  maxLines: number;
  /** Pause after the last keystroke before a request is sent (automatic triggers only). */
  debounceMs: number;
}

export const defaultSettings: Settings = {
  model: { path: table["model.path"].default, backend: table["model.backend"].default, gpuLayers: table["model.gpuLayers"].default },
  context: {
    size: table["context.size"].default,
    sinkTokens: table["context.sinkTokens"].default,
    shiftSize: table["context.shiftSize"].default,
  },
  threads: table.threads.default,
  logLevel: table.logLevel.default,
  completions: {
    enable: table["completions.enable"].default,
    languages: { ...table["completions.languages"].default },
    maxTokens: table["completions.maxTokens"].default,
    maxLines: table["completions.maxLines"].default,
    debounceMs: table["completions.debounceMs"].default,
  },
  download: { allowHttpHosts: [...table["download.allowHttpHosts"].default] },
  speculative: table.speculative.default,
  speculativeDraftModelPath: table.speculativeDraftModelPath.default,
};

const range = (spec: { min: number; max: number }) => ({ min: spec.min, max: spec.max });

/** Bounds that keep absurd values from reaching llama.cpp (from the settings table). */
export const limits = {
  contextSize: range(table["context.size"]),
  sinkTokens: range(table["context.sinkTokens"]),
  shiftSize: range(table["context.shiftSize"]),
  threads: range(table.threads),
  gpuLayers: range(table["model.gpuLayers"]),
  completionMaxTokens: range(table["completions.maxTokens"]),
  completionMaxLines: range(table["completions.maxLines"]),
  completionDebounceMs: range(table["completions.debounceMs"]),
} as const;

/** Reads one raw configuration value by its dotted key below `streamsink.`. */
export type RawLookup = (key: string) => unknown;

/** A value that was replaced while sanitising, so the client can tell the user. */
export interface SettingProblem {
  key: string;
  message: string;
}

export interface SanitizedSettings {
  settings: Settings;
  problems: SettingProblem[];
}

function integerIn(
  raw: unknown,
  key: string,
  fallback: number,
  range: { min: number; max: number },
  problems: SettingProblem[],
): number {
  if (raw === undefined || raw === null || raw === "") return fallback;
  const value = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    problems.push({ key, message: `streamsink.${key} must be a number; using ${fallback}.` });
    return fallback;
  }
  const rounded = Math.round(value);
  if (rounded < range.min || rounded > range.max) {
    const clamped = Math.min(range.max, Math.max(range.min, rounded));
    problems.push({
      key,
      message: `streamsink.${key} = ${value} is outside ${range.min}..${range.max}; using ${clamped}.`,
    });
    return clamped;
  }
  return rounded;
}

function oneOf<T extends string>(
  raw: unknown,
  key: string,
  allowed: readonly T[],
  fallback: T,
  problems: SettingProblem[],
): T {
  if (raw === undefined || raw === null || raw === "") return fallback;
  if (typeof raw === "string" && (allowed as readonly string[]).includes(raw)) return raw as T;
  problems.push({
    key,
    message: `streamsink.${key} must be one of ${allowed.join(", ")}; using "${fallback}".`,
  });
  return fallback;
}

function autoOrInteger(
  raw: unknown,
  key: string,
  range: { min: number; max: number },
  problems: SettingProblem[],
): "auto" | number {
  if (raw === undefined || raw === null || raw === "" || raw === "auto") return "auto";
  const value = integerIn(raw, key, Number.NaN, range, problems);
  return Number.isNaN(value) ? "auto" : value;
}

function flag(raw: unknown, key: string, fallback: boolean, problems: SettingProblem[]): boolean {
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw === "boolean") return raw;
  problems.push({ key, message: `streamsink.${key} must be true or false; using ${fallback}.` });
  return fallback;
}

/**
 * Per-language switches: an object `{"python": true, "markdown": false, "*": true}` ("*" = every
 * language not listed), or a list of language ids (only those). Invalid entries are dropped.
 */
function languageMap(raw: unknown, key: string, problems: SettingProblem[]): Record<string, boolean> {
  const fallback = { ...defaultSettings.completions.languages };
  if (raw === undefined || raw === null) return fallback;
  if (Array.isArray(raw)) {
    const map: Record<string, boolean> = { "*": false };
    for (const id of raw) {
      if (typeof id === "string" && id.trim() !== "") map[id.trim()] = true;
      else problems.push({ key, message: `streamsink.${key} lists ${JSON.stringify(id)}, which is not a language id; ignoring it.` });
    }
    return map;
  }
  if (typeof raw !== "object") {
    problems.push({ key, message: `streamsink.${key} must be an object like {"*": true, "markdown": false}; using all languages.` });
    return fallback;
  }
  const map: Record<string, boolean> = { "*": true };
  for (const [id, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value === "boolean" && id.trim() !== "") map[id.trim()] = value;
    else problems.push({ key, message: `streamsink.${key}.${id} must be true or false; ignoring it.` });
  }
  return map;
}

/** Whether inline completions run for a document of this language. */
export function completionsEnabledFor(settings: CompletionSettings, languageId: string): boolean {
  if (!settings.enable) return false;
  return settings.languages[languageId] ?? settings.languages["*"] ?? true;
}

function text(raw: unknown, key: string, problems: SettingProblem[]): string {
  if (raw === undefined || raw === null) return "";
  if (typeof raw !== "string") {
    problems.push({ key, message: `streamsink.${key} must be a string; ignoring it.` });
    return "";
  }
  return raw.trim();
}

/** A list of host names (optionally with :port); anything else is dropped with a problem. */
function hostList(raw: unknown, key: string, problems: SettingProblem[]): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    problems.push({ key, message: `streamsink.${key} must be a list of host names like ["localhost", "models.lan:8080"]; using none.` });
    return [];
  }
  const hosts: string[] = [];
  for (const entry of raw.slice(0, 100)) {
    const host = typeof entry === "string" ? entry.trim().toLowerCase() : "";
    if (/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(host) && host.length <= 255) hosts.push(host);
    else problems.push({ key, message: `streamsink.${key} lists ${JSON.stringify(entry)}, which is not a host name (no scheme, path or wildcard); ignoring it.` });
  }
  return hosts;
}

/**
 * Turns raw configuration values (anything a user can type into settings.json) into a valid
 * Settings object. Never throws; every value it had to replace is listed in `problems`.
 * `expandPath` resolves `~` and variables in the model path (the client passes its own).
 */
export function sanitizeSettings(
  get: RawLookup,
  expandPath: (path: string) => string = (path) => path,
): SanitizedSettings {
  const problems: SettingProblem[] = [];
  const modelPath = text(get("model.path"), "model.path", problems);
  const contextSize = autoOrInteger(get("context.size"), "context.size", limits.contextSize, problems);
  const sinkTokens = integerIn(
    get("context.sinkTokens"),
    "context.sinkTokens",
    defaultSettings.context.sinkTokens,
    limits.sinkTokens,
    problems,
  );
  const shiftSize = integerIn(
    get("context.shiftSize"),
    "context.shiftSize",
    defaultSettings.context.shiftSize,
    limits.shiftSize,
    problems,
  );
  const settings: Settings = {
    model: {
      path: modelPath === "" ? "" : expandPath(modelPath),
      backend: oneOf(get("model.backend"), "model.backend", backends, defaultSettings.model.backend, problems),
      gpuLayers: autoOrInteger(get("model.gpuLayers"), "model.gpuLayers", limits.gpuLayers, problems),
    },
    context: { size: contextSize, sinkTokens, shiftSize },
    threads: autoOrInteger(get("threads"), "threads", limits.threads, problems),
    logLevel: oneOf(get("logLevel"), "logLevel", logLevels, defaultSettings.logLevel, problems),
    completions: {
      enable: flag(get("completions.enable"), "completions.enable", defaultSettings.completions.enable, problems),
      languages: languageMap(get("completions.languages"), "completions.languages", problems),
      maxTokens: integerIn(
        get("completions.maxTokens"),
        "completions.maxTokens",
        defaultSettings.completions.maxTokens,
        limits.completionMaxTokens,
        problems,
      ),
      maxLines: integerIn(
        get("completions.maxLines"),
        "completions.maxLines",
        defaultSettings.completions.maxLines,
        limits.completionMaxLines,
        problems,
      ),
      debounceMs: integerIn(
        get("completions.debounceMs"),
        "completions.debounceMs",
        defaultSettings.completions.debounceMs,
        limits.completionDebounceMs,
        problems,
      ),
    },
    download: { allowHttpHosts: hostList(get("download.allowHttpHosts"), "download.allowHttpHosts", problems) },
    ...speculativeSettings(get, expandPath, problems),
  };
  return { settings, problems };
}

/**
 * Settings whose change needs a new server process (everything else is applied live through the
 * configure notification). Keys are relative to `streamsink.`.
 */
export const restartServerSettings: readonly string[] = ["model.backend"];

function speculativeSettings(
  get: RawLookup,
  expandPath: (path: string) => string,
  problems: SettingProblem[],
): Pick<Settings, "speculative" | "speculativeDraftModelPath"> {
  const draftModelPath = text(get("speculativeDraftModelPath"), "speculativeDraftModelPath", problems);
  return {
    speculative: oneOf(get("speculative"), "speculative", speculativeModes, defaultSettings.speculative, problems),
    speculativeDraftModelPath: draftModelPath === "" ? "" : expandPath(draftModelPath),
  };
}
