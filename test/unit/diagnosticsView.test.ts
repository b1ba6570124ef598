// What the diagnostics view and the status bar show for a server snapshot, and which webview
// messages are accepted.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  appendSample,
  buildView,
  formatBytes,
  parseWebviewMessage,
  statusFillText,
  visibleTokenText,
} from "../../common/diagnosticsView";
import type { DiagnosticsSnapshot, SequenceDiagnostics } from "../../common/protocol";
import { parsePanelMessage } from "../../src/webview/diagnostics/messages";

function sequence(overrides: Partial<SequenceDiagnostics> = {}): SequenceDiagnostics {
  const base: SequenceDiagnostics = {
    label: "chat",
    sinks: 4,
    windowTokens: 508,
    kvCells: 512,
    contextSize: 2048,
    tokensSeen: 9000,
    tokensEvicted: 8488,
    shifts: 40,
    shiftMs: 12.5,
    lastShiftMs: 0.3,
    promptTokensPerSecond: 850,
    generationTokensPerSecond: 42.25,
    reevaluatedTokens: 0,
    mode: "shift",
    canShift: true,
    windowStartAbsolute: 8492,
    sinkTokens: [1, 822, 13, 29871],
    sinkText: ["<s>", "def", "\n", " "],
  };
  return Object.assign(base, overrides);
}

function snapshot(time: number, sequences: SequenceDiagnostics[], overrides: Partial<DiagnosticsSnapshot> = {}): DiagnosticsSnapshot {
  return {
    time,
    status: { state: "ready", message: "ready", modelName: "tinycoder", backend: "cpu" },
    sequences,
    process: {
      backend: "cpu",
      deviceNames: [],
      gpuLayers: 0,
      totalLayers: 9,
      threads: 2,
      kvCache: { bytes: 8 * 1024 * 1024, cells: 2048, keyType: "f16", valueType: "f16" },
      ram: { total: 16e9, used: 4e9, free: 12e9 },
      rssBytes: 300 * 1024 * 1024,
      jsHeapBytes: 40 * 1024 * 1024,
    },
    ...overrides,
  };
}

describe("status bar KV fill", () => {
  it("names every sequence, chat first, whichever ran last", () => {
    const chat = { label: "chat", kvCells: 253, contextSize: 256, sinks: 4 };
    const completion = { label: "completion", kvCells: 120, contextSize: 512, sinks: 4 };
    assert.equal(statusFillText([completion, chat]), "chat 253/256 · compl 120/512");
    assert.equal(statusFillText([chat, completion]), "chat 253/256 · compl 120/512");
    assert.equal(statusFillText([{ ...completion, kvCells: 7 }]), "compl 7/512");
    assert.equal(statusFillText([{ label: "other", kvCells: 1, contextSize: 256, sinks: 0 }, chat]), "chat 253/256 · other 1/256");
    assert.equal(statusFillText([]), undefined);
  });
});

describe("diagnostics view", () => {
  it("lists every figure of a sequence, with its sink tokens made visible", () => {
    const view = buildView(snapshot(1000, [sequence()]), []);
    const [chat] = view.sequences;
    assert.ok(chat);
    assert.equal(chat.fillText, "512 / 2,048 cells (25%)");
    assert.deepEqual(chat.sinks, ['"<s>"', '"def"', '"\\n"', '" "']);
    const rows = Object.fromEntries(chat.rows.map((row) => [row.label, row.value]));
    assert.equal(rows["Sink tokens"], "4");
    assert.equal(rows["Window tokens"], "508");
    assert.equal(rows["Evicted"], "8,488");
    assert.equal(rows["Shifts"], "40");
    assert.equal(rows["Generation speed"], "42.3 tok/s");
    assert.equal(rows["Prompt speed"], "850 tok/s");
    assert.equal(rows["Mode"], "shift in place");
    assert.equal(view.headline, "tinycoder ready on CPU");
  });

  it("puts a CPU fallback notice, a memory warning and an error first", () => {
    const view = buildView(
      snapshot(1000, [], {
        status: { state: "error", message: "Model file not found: /x.gguf." },
        process: {
          deviceNames: [],
          notice: "The cuda backend is not available here; running on the CPU instead.",
          ram: { total: 1, used: 0, free: 1 },
          rssBytes: 1,
          jsHeapBytes: 1,
        },
      }),
      [],
    );
    assert.equal(view.notices.length, 2);
    assert.match(view.notices[0] ?? "", /running on the CPU/);
    assert.match(view.notices[1] ?? "", /not found/);
    assert.equal(view.model.length, 0);
  });

  it("says what the memory bound covers, the context size in use and why, and a context past the trained one", () => {
    const base = snapshot(1000, []);
    const budget = {
      contextSize: 4096,
      contexts: 2,
      keyType: "f16",
      valueType: "f16",
      kvBytesPerContext: 8 * 1024 * 1024,
      overheadBytesPerContext: 1024 * 1024,
      modelBytes: 30 * 1024 * 1024,
      neverExceedsBytes: 48 * 1024 * 1024,
      availableBytes: 8e9,
      placement: "cpu" as const,
      fits: true,
      requestedContextSize: 4096,
      trainContextSize: 512,
      contextNote: "streamsink.context.size = 4096",
      contextWarning: "n_ctx 4096 > trained 512: answers degrade",
    };
    const view = buildView({ ...base, process: { ...base.process, budget } }, []);
    const rows = Object.fromEntries(view.memory.map((row) => [row.label, row.value]));
    assert.equal(rows["Never exceeds"], undefined, "no bare bound that reads as covering the whole process");
    assert.match(rows["Model + KV caches never exceed"] ?? "", /^48\.0 MB \(weights \+ 2 KV caches \+ compute buffers; .*Server RSS\)/);
    assert.equal(rows["Context size"], "4,096 tokens (streamsink.context.size = 4096)");
    assert.deepEqual(view.notices, ["n_ctx 4096 > trained 512: answers degrade"]);
  });

  it("charts KV fill and tokens/s between samples, restarting the rate after a reset", () => {
    let history = appendSample([], snapshot(0, [sequence({ tokensSeen: 1000, kvCells: 512 })]));
    history = appendSample(history, snapshot(2000, [sequence({ tokensSeen: 1100, kvCells: 1024 })]));
    history = appendSample(history, snapshot(3000, [sequence({ tokensSeen: 10, kvCells: 10 })]));
    assert.deepEqual(history.map((s) => s.tokensPerSecond.chat), [0, 50, 0]);
    assert.deepEqual(history.map((s) => s.fill.chat), [0.25, 0.5, 10 / 2048]);
    const capped = Array.from({ length: 200 }, (_, i) => i).reduce(
      (h, i) => appendSample(h, snapshot(i * 1000, [sequence()]), 120),
      [] as ReturnType<typeof appendSample>,
    );
    assert.equal(capped.length, 120);
    assert.deepEqual(buildView(snapshot(5, [sequence()]), history).labels, ["chat"]);
  });

  it("formats bytes and token text for people", () => {
    assert.equal(formatBytes(512), "512 B");
    assert.equal(formatBytes(2 * 1024 * 1024), "2.0 MB");
    assert.equal(formatBytes(undefined), "—");
    assert.equal(visibleTokenText("\t<|fim_prefix|>"), '"\\t<|fim_prefix|>"');
  });
});

describe("webview messages", () => {
  it("accepts only the known, well-formed ones", () => {
    assert.deepEqual(parseWebviewMessage({ type: "ready" }), { type: "ready" });
    assert.deepEqual(parseWebviewMessage({ type: "resetCache", label: "chat" }), { type: "resetCache", label: "chat" });
    assert.equal(parseWebviewMessage({ type: "resetCache", label: "<img onerror=x>" }), undefined);
    assert.equal(parseWebviewMessage({ type: "runCommand", command: "rm" }), undefined);
    assert.equal(parseWebviewMessage("ready"), undefined);
    assert.equal(parseWebviewMessage(null), undefined);
  });
});

describe("panel messages (checked by the webview)", () => {
  it("accepts the views the extension builds, and nothing malformed", () => {
    const first = snapshot(1000, [sequence()]);
    const view = buildView(first, appendSample(appendSample([], first), snapshot(2000, [sequence({ tokensSeen: 9100 })])));
    assert.deepEqual(parsePanelMessage({ type: "view", view }), { type: "view", view });
    assert.deepEqual(parsePanelMessage({ type: "unavailable", message: "stopped" }), { type: "unavailable", message: "stopped" });
    assert.equal(parsePanelMessage({ type: "view", view: { ...view, headline: 3 } }), undefined);
    assert.equal(parsePanelMessage({ type: "view", view: { ...view, sequences: [{ ...view.sequences[0], rows: [{ label: "x" }] }] } }), undefined);
    assert.equal(parsePanelMessage({ type: "unavailable" }), undefined);
    assert.equal(parsePanelMessage({ type: "run", view }), undefined);
    assert.equal(parsePanelMessage(null), undefined);
  });
});
