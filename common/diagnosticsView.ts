// What the diagnostics view shows, computed from a server snapshot: labelled rows per sequence, per
// process and per model, the history behind the chart (KV fill and tokens/s over time), the status
// bar's KV fill text, and the validation of messages coming back from the webview. Pure (no vscode,
// no DOM): the webview only renders these strings with textContent.
import type { DiagnosticsSnapshot, KvFill, SequenceDiagnostics } from "./protocol";
import { object, parse, refine, string, tagged } from "./validate";

export interface Row {
  label: string;
  value: string;
  /** Longer explanation shown on hover. */
  title?: string;
}

export interface SequenceView {
  label: string;
  /** e.g. "512 / 2,048 cells (25%)". */
  fillText: string;
  /** KV cells in use / context size, 0..1. */
  fraction: number;
  /** Sinks fraction of the context, 0..1 (drawn as the fixed part of the bar). */
  sinkFraction: number;
  /** Sink tokens as visible text (quoted, escapes shown), e.g. ["\"<s>\"", "\"def\""]. */
  sinks: string[];
  rows: Row[];
}

export interface ChartSample {
  /** Epoch ms. */
  time: number;
  /** KV fill 0..1 per sequence label. */
  fill: Record<string, number>;
  /** Tokens per second per sequence label since the previous sample (ingested + generated). */
  tokensPerSecond: Record<string, number>;
  /** tokensSeen per label, to compute the next sample's rate. */
  tokensSeen: Record<string, number>;
}

export interface DiagnosticsView {
  state: string;
  headline: string;
  /** A notice to show prominently (CPU fallback, memory warning). */
  notices: string[];
  sequences: SequenceView[];
  process: Row[];
  model: Row[];
  memory: Row[];
  history: ChartSample[];
  /** Labels present in the history, in a stable order (for chart colours). */
  labels: string[];
  updated: string;
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 });

export function formatCount(value: number): string {
  return integer.format(value);
}

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${integer.format(value)} B` : `${oneDecimal.format(value)} ${units[unit]}`;
}

export function formatRate(tokensPerSecond: number): string {
  if (!(tokensPerSecond > 0)) return "—";
  return `${tokensPerSecond >= 100 ? integer.format(tokensPerSecond) : oneDecimal.format(tokensPerSecond)} tok/s`;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${oneDecimal.format(ms / 1000)} s` : `${oneDecimal.format(ms)} ms`;
}

/** A token's text made visible: quoted, with control characters escaped. */
export function visibleTokenText(text: string): string {
  return JSON.stringify(text);
}

/** The status bar's KV fill: the chat sequence first, else the first one; e.g. "512/2048 · 4 sinks". */
/** Short names of the sequences in the status bar. */
const statusLabels: Readonly<Record<string, string>> = { chat: "chat", completion: "compl" };

/**
 * The status bar's KV fill: every sequence, chat first, each named ("chat 253/256 · compl 120/512"),
 * so it never depends on which one ran last. Undefined without sequences.
 */
export function statusFillText(fills: readonly KvFill[]): string | undefined {
  if (fills.length === 0) return undefined;
  const rank = (label: string) => (label === "chat" ? 0 : label === "completion" ? 1 : 2);
  const ordered = [...fills].sort((a, b) => rank(a.label) - rank(b.label) || a.label.localeCompare(b.label));
  return ordered.map((fill) => `${statusLabels[fill.label] ?? fill.label} ${fill.kvCells}/${fill.contextSize}`).join(" · ");
}

/** One line per sequence, for the status bar tooltip. */
export function statusFillTooltip(fills: readonly KvFill[]): string {
  return fills.map((fill) => `${fill.label}: ${fill.kvCells}/${fill.contextSize} KV cells, ${fill.sinks} sinks`).join("\n");
}

function sequenceView(sequence: SequenceDiagnostics): SequenceView {
  const fraction = sequence.contextSize > 0 ? Math.min(1, sequence.kvCells / sequence.contextSize) : 0;
  const rows: Row[] = [
    { label: "Sink tokens", value: formatCount(sequence.sinks), title: "Kept at the start of the cache forever (attention sinks)." },
    { label: "Window tokens", value: formatCount(sequence.windowTokens), title: "The rolling window after the sinks." },
    { label: "Context size", value: formatCount(sequence.contextSize), title: "llama.cpp's real context size (a multiple of 256)." },
    {
      label: "KV cells in use",
      value: `${formatCount(sequence.kvCells)}${sequence.kvCellsPeak === undefined ? "" : ` (peak ${formatCount(sequence.kvCellsPeak)})`}`,
    },
    { label: "Tokens seen", value: formatCount(sequence.tokensSeen), title: "Ingested or generated in this stream, re-evaluations excluded." },
    { label: "Evicted", value: formatCount(sequence.tokensEvicted) },
    { label: sequence.mode === "shift" ? "Shifts" : "Truncations", value: formatCount(sequence.shifts) },
    {
      label: "Time shifting",
      value: `${formatMs(sequence.shiftMs)} (last ${formatMs(sequence.lastShiftMs)})`,
      title: "Erase + position shift calls; the lazy K re-rotation happens inside the next decode.",
    },
    { label: "Prompt speed", value: formatRate(sequence.promptTokensPerSecond) },
    { label: "Generation speed", value: formatRate(sequence.generationTokensPerSecond) },
    { label: "Re-evaluated tokens", value: formatCount(sequence.reevaluatedTokens) },
    {
      label: "Mode",
      value: sequence.mode === "shift" ? "shift in place" : "re-evaluate",
      title: sequence.reason ?? (sequence.canShift ? "The model's KV cache can be shifted in place." : undefined),
    },
  ];
  return {
    label: sequence.label,
    fillText: `${formatCount(sequence.kvCells)} / ${formatCount(sequence.contextSize)} cells (${Math.round(fraction * 100)}%)`,
    fraction,
    sinkFraction: sequence.contextSize > 0 ? Math.min(1, sequence.sinks / sequence.contextSize) : 0,
    sinks: sequence.sinkText.length > 0 ? sequence.sinkText.map(visibleTokenText) : sequence.sinkTokens.map((token) => `#${token}`),
    rows,
  };
}

/** Adds a sample for `snapshot` to `history` (a new array, at most `max` samples). */
export function appendSample(history: readonly ChartSample[], snapshot: DiagnosticsSnapshot, max = 120): ChartSample[] {
  const previous = history.at(-1);
  const sample: ChartSample = { time: snapshot.time, fill: {}, tokensPerSecond: {}, tokensSeen: {} };
  for (const sequence of snapshot.sequences) {
    sample.fill[sequence.label] = sequence.contextSize > 0 ? sequence.kvCells / sequence.contextSize : 0;
    sample.tokensSeen[sequence.label] = sequence.tokensSeen;
    const before = previous?.tokensSeen[sequence.label];
    const seconds = previous ? (snapshot.time - previous.time) / 1000 : 0;
    // A reset (fewer tokens than before) or the first sample has no rate.
    sample.tokensPerSecond[sequence.label] =
      before !== undefined && seconds > 0 && sequence.tokensSeen >= before ? (sequence.tokensSeen - before) / seconds : 0;
  }
  if (previous && snapshot.time <= previous.time) return [...history];
  return [...history, sample].slice(-max);
}

export function buildView(snapshot: DiagnosticsSnapshot, history: readonly ChartSample[]): DiagnosticsView {
  const { status, process: proc, model } = snapshot;
  const notices: string[] = [];
  if (proc.notice) notices.push(proc.notice);
  if (proc.budget?.message) notices.push(proc.budget.message);
  if (proc.budget?.contextWarning) notices.push(proc.budget.contextWarning);
  if (status.state === "error" || status.state === "noModel") notices.push(status.message);

  const processRows: Row[] = [
    {
      label: "Backend",
      value: proc.backend ? `${proc.backend.toUpperCase()}${proc.deviceNames.length ? ` — ${proc.deviceNames.join(", ")}` : ""}` : "—",
    },
    {
      label: "GPU layers",
      value: proc.gpuLayers === undefined ? "—" : `${proc.gpuLayers} of ${proc.totalLayers ?? "?"}`,
    },
    {
      label: "Threads",
      value: proc.threads === undefined ? "—" : String(proc.threads),
      title: "streamsink.threads: \"auto\" = physical cores − 1 (at least 1), leaving the editor a core; a number is capped at the logical cores.",
    },
    {
      label: "KV cache",
      value: proc.kvCache
        ? `${formatBytes(proc.kvCache.bytes)} (K ${proc.kvCache.keyType}, V ${proc.kvCache.valueType}, ${formatCount(proc.kvCache.cells)} cells)`
        : "—",
      title: "layers × KV heads × head dim × cells × bytes per type, K + V, over every live sequence",
    },
    {
      label: "VRAM",
      value: proc.vram ? `${formatBytes(proc.vram.used)} used, ${formatBytes(proc.vram.free)} free of ${formatBytes(proc.vram.total)}` : "— (no GPU in use)",
    },
    { label: "RAM", value: `${formatBytes(proc.ram.used)} used, ${formatBytes(proc.ram.free)} free of ${formatBytes(proc.ram.total)}` },
    { label: "Server RSS", value: `${formatBytes(proc.rssBytes)} (JavaScript heap ${formatBytes(proc.jsHeapBytes)})` },
  ];

  const memory: Row[] = [];
  const budget = proc.budget;
  if (budget) {
    memory.push(
      {
        label: "Model + KV caches never exceed",
        value: `${formatBytes(budget.neverExceedsBytes)} (weights + ${budget.contexts} KV caches + compute buffers; Node.js and its heap come on top, see Server RSS)`,
        title: "The memory guarantee: llama.cpp's model weights, every context's KV cache and compute buffers, fixed however long a session runs. The server process's RSS also holds the Node.js runtime and the JavaScript heap.",
      },
      {
        label: "Context size",
        value: `${formatCount(budget.contextSize)} tokens${budget.contextNote ? ` (${budget.contextNote})` : ""}`,
        title: "streamsink.context.size as resolved by the server: \"auto\" is the model's trained context, bounded by memory.",
      },
      {
        label: "KV per context",
        value: `${formatBytes(budget.kvBytesPerContext)} × ${budget.contexts} (${formatCount(budget.contextSize)} tokens, K ${budget.keyType}, V ${budget.valueType})`,
      },
      { label: "Compute buffers", value: `${formatBytes(budget.overheadBytesPerContext)} × ${budget.contexts}` },
      { label: "Model weights", value: formatBytes(budget.modelBytes) },
      {
        label: "Available",
        value: `${formatBytes(budget.availableBytes)} (${budget.placement === "gpu" ? "free VRAM + RAM" : "free RAM"} at load)`,
      },
      {
        label: "Verdict",
        value: budget.fits ? "fits" : `does not fit${budget.suggestedContextSize ? ` — use a context of ${formatCount(budget.suggestedContextSize)} or less` : ""}`,
      },
    );
  }

  const modelRows: Row[] = model
    ? [
        { label: "Name", value: model.name, title: model.path },
        { label: "Architecture", value: model.architecture || "unknown" },
        { label: "Parameters", value: `${model.parametersText} (${formatCount(model.parameters)})` },
        { label: "Quantization", value: model.quantization },
        { label: "File size", value: formatBytes(model.fileSizeBytes) },
        { label: "Trained context", value: model.trainedContextSize ? formatCount(model.trainedContextSize) : "unknown" },
        {
          label: "Shape",
          value: `${model.layers} layers, ${model.headCount} heads / ${model.headCountKv} KV heads, head dim ${model.headDimK}`,
        },
        { label: "Can shift", value: model.canShift ? "yes" : `no — ${model.shiftReason ?? "unknown reason"}` },
      ]
    : [];

  const labels = [...new Set(history.flatMap((sample) => Object.keys(sample.fill)))].sort();
  const modelName = status.modelName ?? model?.name;
  const headline =
    status.state === "ready"
      ? `${modelName ?? "Model"} ready on ${(proc.backend ?? status.backend ?? "?").toUpperCase()}`
      : `${status.state}: ${status.message}`;
  return {
    state: status.state,
    headline,
    notices,
    sequences: snapshot.sequences.map(sequenceView),
    process: processRows,
    model: modelRows,
    memory,
    history: [...history],
    labels,
    updated: new Date(snapshot.time).toISOString(),
  };
}

/** Messages the webview may send. Anything else is ignored. */
export type WebviewMessage =
  | { type: "ready" }
  | { type: "copy" }
  | { type: "resetCache"; label: string }
  | { type: "restartServer" };

const webviewMessage = tagged({
  ready: object({}),
  copy: object({}),
  restartServer: object({}),
  resetCache: object({ label: refine(string(64), (label) => /^[a-z][a-z0-9-]*$/.test(label), "must be a sequence label") }),
});

export function parseWebviewMessage(raw: unknown): WebviewMessage | undefined {
  return parse(webviewMessage, raw);
}

/** Messages the extension posts to the webview. */
export type PanelMessage =
  | { type: "view"; view: DiagnosticsView }
  | { type: "unavailable"; message: string };
