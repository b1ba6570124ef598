// Inline completions on a dedicated StreamingLLM sequence (its own context, separate from chat's).
//   - Reuse: each prompt is synced onto the sequence's cache (StreamingSequence.syncTo keeps the
//     common token prefix and evaluates only the rest), so a keystroke costs the changed tokens at
//     the cursor plus the short suffix, not the whole prompt.
//   - Memory: the sequence lives in one fixed-size context; the sink/window engine bounds it.
//   - Staleness: requests run one at a time; a new request aborts the one in flight (latest wins),
//     the LSP cancellation aborts it too, and the abort reaches the sampler between tokens. A request
//     already cancelled when its turn comes never touches the model.
//   - LRU: a suggestion whose first characters the user has typed is answered without the model.
import type { LlamaContext, LlamaModel, Token } from "node-llama-cpp";
import type { InlineCompletionList, InlineCompletionParams } from "vscode-languageserver/node";
import type { TextDocument } from "vscode-languageserver-textdocument";
import type { bench } from "../../common/protocol";
import { defaultSettings, type CompletionSettings } from "../../common/settings";
import { SuggestionCache } from "../../common/suggestionCache";
import type { Engine, LoadedModel, ModelListener } from "../engine";
import { shiftCapabilityOfModel } from "../kv/shiftCapability";
import { tokenPredictorFor } from "../kv/speculativeSetup";
import { StreamingSequence } from "../kv/streamingSequence";
import { errorMessage, type Logger } from "../log";
import { SerialQueue } from "../serialQueue";
import { buildPrompt, lineStartWithin, type FimTokenIds } from "./prompt";
import { findStop, finishSuggestion, fitToCursorIndent, withoutCursorIndent, type StopContext } from "./stopRules";

/** Suffix tokens in a FIM prompt: re-evaluated on every keystroke, so kept short. */
export const maxSuffixTokens = 48;
/** Records kept for the stats request. */
const recordsKept = 1024;
/** Characters after the cursor the stop rules look at. */
const suffixContextChars = 2000;

export interface CancellationLike {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

class Cancelled extends Error {}

function fimTokensOf(model: LlamaModel): FimTokenIds | null {
  const { prefix, suffix, middle } = model.tokens.infill;
  if (prefix === null || suffix === null || middle === null) return null;
  return { prefix, suffix, middle };
}

export class CompletionService implements ModelListener {
  private loaded: LoadedModel | undefined;
  private context: LlamaContext | undefined;
  private sequence: StreamingSequence | undefined;
  private readonly queue = new SerialQueue();
  private inFlight: AbortController | undefined;
  private readonly cache = new SuggestionCache(32);
  /** Prefix-window anchor per document (see prompt.ts). */
  private readonly anchors = new Map<string, number>();
  private readonly counts = { requests: 0, modelCalls: 0, cacheHits: 0, cancelled: 0, dropped: 0, errors: 0 };
  private sequencesCreated = 0;
  private sequencesDisposed = 0;
  private nextId = 0;
  private records: bench.CompletionRequestRecord[] = [];
  private active: bench.CompletionStatsResult["active"];

  constructor(
    private readonly engine: Pick<Engine, "createContext" | "currentSettings">,
    private readonly log: Logger,
    private readonly documents: { get(uri: string): TextDocument | undefined },
  ) {}

  modelReady(loaded: LoadedModel): void {
    // The sequence is created lazily, on the first request.
    this.loaded = loaded;
  }

  async modelUnloading(): Promise<void> {
    this.loaded = undefined;
    this.inFlight?.abort();
    await this.queue.run(() => this.closeSequence());
    this.cache.clear();
    this.anchors.clear();
  }

  /** Drops the cached KV and suggestions (Reset Completion Cache). */
  async reset(): Promise<void> {
    this.inFlight?.abort();
    await this.queue.run(() => this.closeSequence());
    this.cache.clear();
    this.anchors.clear();
  }

  documentClosed(uri: string): void {
    this.cache.clear(uri);
    this.anchors.delete(uri);
  }

  sequenceStats() {
    return this.sequence?.disposed === false ? this.sequence.stats() : undefined;
  }

  stats(sinceId = 0): bench.CompletionStatsResult {
    return {
      ...this.counts,
      sequencesCreated: this.sequencesCreated,
      sequencesDisposed: this.sequencesDisposed,
      liveSequences: this.sequencesCreated - this.sequencesDisposed,
      fim: this.loaded ? fimTokensOf(this.loaded.model) !== null : null,
      kv: this.sequenceStats(),
      rssBytes: process.memoryUsage().rss,
      ...(this.active ? { active: { ...this.active } } : {}),
      recent: this.records.filter((record) => record.id > sinceId),
    };
  }

  /**
   * `window`: a window of an unsynced (huge) document, its text and the cursor offset in it
   * (InlineCompletionWindowRequest); params.position is then only echoed in the answer's range.
   */
  async complete(
    params: InlineCompletionParams,
    token: CancellationLike,
    window?: { text: string; offset: number },
  ): Promise<InlineCompletionList | null> {
    const started = performance.now();
    const id = ++this.nextId;
    this.counts.requests++;
    const record = (outcome: bench.CompletionOutcome, fields: Partial<bench.CompletionRequestRecord> = {}) => {
      this.records.push({
        id,
        outcome,
        ms: performance.now() - started,
        promptTokens: 0,
        reusedTokens: 0,
        evaluatedTokens: 0,
        generatedTokens: 0,
        meterInputTokens: 0,
        suggestionChars: 0,
        ...fields,
      });
      if (this.records.length > recordsKept) this.records.splice(0, this.records.length - recordsKept);
    };

    const settings: CompletionSettings = this.engine.currentSettings?.completions ?? defaultSettings.completions;
    const document = window === undefined ? this.documents.get(params.textDocument.uri) : undefined;
    const loaded = this.loaded;
    if (!settings.enable || (document === undefined && window === undefined) || loaded === undefined) {
      record("skipped");
      return null;
    }
    const uri = params.textDocument.uri;
    const text = window?.text ?? document!.getText();
    const offset = window?.offset ?? document!.offsetAt(params.position);
    const key = SuggestionCache.keyOf(uri, text, offset);
    const range = { start: params.position, end: params.position };

    const cached = this.cache.lookup(key);
    if (cached !== undefined) {
      this.counts.cacheHits++;
      record("cacheHit", { suggestionChars: cached.length });
      return { items: [{ insertText: cached, range }] };
    }
    if (token.isCancellationRequested) {
      this.counts.dropped++;
      record("dropped");
      return null;
    }

    // Latest wins: whatever is running or queued is for a cursor the user has left.
    this.inFlight?.abort();
    const controller = new AbortController();
    this.inFlight = controller;
    const subscription = token.onCancellationRequested(() => controller.abort());
    const signal = controller.signal;
    try {
      return await this.queue.run(async () => {
        if (signal.aborted || this.loaded !== loaded) {
          this.counts.dropped++;
          record("dropped");
          return null;
        }
        this.counts.modelCalls++;
        const fields: Partial<bench.CompletionRequestRecord> = {};
        this.active = { id, phase: "prompt", generatedTokens: 0 };
        try {
          const view = withoutCursorIndent(text, offset);
          const written = await this.generate(loaded, settings, uri, view.text, view.offset, signal, fields);
          const suggestion = fitToCursorIndent(written, view.indent);
          if (signal.aborted) throw new Cancelled();
          if (suggestion !== "") this.cache.add(key, suggestion);
          record("completed", { ...fields, suggestionChars: suggestion.length });
          return { items: suggestion === "" ? [] : [{ insertText: suggestion, range }] };
        } catch (error) {
          if (signal.aborted || error instanceof Cancelled) {
            this.counts.cancelled++;
            record("cancelled", fields);
            return null;
          }
          this.counts.errors++;
          record("error", fields);
          this.log.error(`Inline completion failed: ${errorMessage(error)}`);
          // A broken sequence must not poison the next request: start from a fresh one.
          await this.closeSequence();
          return null;
        } finally {
          this.active = undefined;
        }
      });
    } finally {
      subscription.dispose();
      if (this.inFlight === controller) this.inFlight = undefined;
    }
  }

  private async generate(
    loaded: LoadedModel,
    settings: CompletionSettings,
    uri: string,
    text: string,
    offset: number,
    signal: AbortSignal,
    fields: Partial<bench.CompletionRequestRecord>,
  ): Promise<string> {
    const sequence = await this.ensureSequence(loaded);
    const model = loaded.model;
    const fim = fimTokensOf(model);
    const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
    // Prompt + suggestion must fit the cache without an eviction (so the next request can reuse it)
    // and stay inside the positions the model was trained on.
    const capacity = Math.min(sequence.context.contextSize - 1, model.trainContextSize || Number.MAX_SAFE_INTEGER);
    const maxTokens = Math.min(settings.maxTokens, Math.floor(capacity / 2));
    const prompt = buildPrompt({
      text,
      offset,
      tokenize: (part) => model.tokenize(part, false),
      bos,
      fim,
      budget: capacity - maxTokens - 1,
      maxSuffixTokens,
      anchor: this.anchors.get(uri),
    });
    this.rememberAnchor(uri, prompt.anchor);
    fields.mode = prompt.mode;
    fields.promptTokens = prompt.tokens.length;

    const meter = sequence.sequence.tokenMeter;
    const meterBefore = meter.usedInputTokens;
    // The line before the cursor, cut to its last suffixContextChars on a long (minified) line.
    const lineFloor = Math.max(0, offset - suffixContextChars);
    const lineStart = lineStartWithin(text, offset, lineFloor);
    const stopContext: StopContext = {
      maxLines: settings.maxLines,
      linePrefix: text.slice(lineStart < 0 ? lineFloor : lineStart, offset),
      suffix: text.slice(offset, offset + suffixContextChars),
    };
    const stopTokens = new Set<Token>(
      [model.tokens.eos, model.tokens.eot, fim?.prefix, fim?.suffix, fim?.middle].filter(
        (t): t is Token => t !== null && t !== undefined,
      ) as Token[],
    );
    const lastPromptTokens = prompt.tokens.slice(-8) as Token[];
    const textTokens: Token[] = [];
    try {
      const synced = await sequence.syncTo(prompt.tokens.slice(0, -1) as Token[], { signal });
      fields.reusedTokens = synced.reused;
      fields.evaluatedTokens = synced.evaluated;
      if (signal.aborted) throw new Cancelled();
      let generated = 0;
      fields.evaluatedTokens += 1; // the prompt's last token, evaluated by generate()
      if (this.active) this.active.phase = "generating";
      for await (const next of sequence.generate({
        input: prompt.tokens.slice(-1) as Token[],
        maxTokens,
        temperature: 0,
        signal,
        stopOnTokens: [...stopTokens],
        shouldStop: (tokenId) => {
          if (stopTokens.has(tokenId) || model.isSpecialToken(tokenId)) return true;
          textTokens.push(tokenId);
          return findStop(model.detokenize(textTokens, false, lastPromptTokens), stopContext).stop;
        },
      })) {
        void next;
        generated++;
        if (this.active) this.active.generatedTokens = generated;
      }
      fields.generatedTokens = generated;
    } finally {
      fields.meterInputTokens = meter.usedInputTokens - meterBefore;
    }
    if (signal.aborted) throw new Cancelled();
    return finishSuggestion(model.detokenize(textTokens, false, lastPromptTokens), stopContext);
  }

  private rememberAnchor(uri: string, anchor: number): void {
    this.anchors.delete(uri);
    this.anchors.set(uri, anchor);
    if (this.anchors.size > 64) this.anchors.delete(this.anchors.keys().next().value!);
  }

  private async ensureSequence(loaded: LoadedModel): Promise<StreamingSequence> {
    if (this.sequence !== undefined && !this.sequence.disposed) return this.sequence;
    await this.closeSequence();
    const context = await this.engine.createContext({ contextSize: loaded.settings.context.size, label: "completion" });
    try {
      this.sequence = await StreamingSequence.create(context, {
        sinks: loaded.settings.context.sinkTokens,
        shiftSize: loaded.settings.context.shiftSize,
        capability: shiftCapabilityOfModel(loaded.model),
        label: "completion",
        tokenPredictor: await tokenPredictorFor(
          loaded,
          { contextSize: context.contextSize, sinks: loaded.settings.context.sinkTokens, label: "completion" },
          this.log,
        ),
      });
    } catch (error) {
      await context.dispose();
      throw error;
    }
    this.context = context;
    this.sequencesCreated++;
    this.log.debug(
      `Completion sequence ready: ${context.contextSize} tokens, ${this.sequence.sinks} sinks, ` +
        `${fimTokensOf(loaded.model) ? "FIM" : "prefix-only"} prompts.`,
    );
    return this.sequence;
  }

  private async closeSequence(): Promise<void> {
    const sequence = this.sequence;
    const context = this.context;
    this.sequence = undefined;
    this.context = undefined;
    if (sequence !== undefined) {
      await sequence.dispose();
      this.sequencesDisposed++;
    }
    if (context !== undefined && !context.disposed) await context.dispose();
  }
}
