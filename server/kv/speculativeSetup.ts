// The server side of streamsink.speculative: builds the token predictor for a new StreamingSequence
// from the settings (speculation.ts decides), loading the draft model once per Llama instance and
// giving each draft predictor its own draft context, disposed with the predictor (that is, with the
// sequence that owns it). Any failure falls back to prompt lookup with a message in the log.
import type { Llama, LlamaContext, LlamaModel, TokenPredictor } from "node-llama-cpp";
import type { Settings } from "../../common/settings";
import { errorMessage, type Logger } from "../log";
import {
  compareVocabularies,
  createTokenPredictor,
  decideSpeculation,
  vocabularyFingerprint,
  type PredictorClasses,
  type VocabularyComparison,
} from "./speculation";

export interface SpeculationHost {
  llama: Llama;
  model: LlamaModel;
  threads: number;
  settings: Pick<Settings, "speculative" | "speculativeDraftModelPath">;
}

interface DraftEntry {
  path: string;
  model: LlamaModel;
}

/** The loaded draft model per Llama instance (disposed with it, or when the path changes). */
const drafts = new WeakMap<Llama, DraftEntry>();
/** Draft comparisons already logged, so a fallback is reported once per model pair. */
const reported = new Set<string>();

async function draftModel(host: SpeculationHost, path: string): Promise<LlamaModel> {
  const cached = drafts.get(host.llama);
  if (cached && cached.path === path && !cached.model.disposed) return cached.model;
  drafts.delete(host.llama);
  if (cached && !cached.model.disposed) await cached.model.dispose();
  const model = await host.llama.loadModel({ modelPath: path });
  drafts.set(host.llama, { path, model });
  return model;
}

/**
 * The predictor for a new sequence of `host.model` (undefined = no speculation). `contextSize` is
 * the target context's real size (the draft context gets the same); `sinks` its sink count.
 */
export async function tokenPredictorFor(
  host: SpeculationHost,
  target: { contextSize: number; sinks: number; label: string },
  log: Logger,
): Promise<TokenPredictor | undefined> {
  const { speculative: mode, speculativeDraftModelPath: draftModelPath } = host.settings;
  if (mode === "off") return undefined;
  const classes: PredictorClasses = await import("node-llama-cpp");
  let comparison: VocabularyComparison | undefined;
  let draft: LlamaModel | undefined;
  if ((mode === "draft" || mode === "auto") && draftModelPath !== "") {
    try {
      draft = await draftModel(host, draftModelPath);
      comparison = compareVocabularies(vocabularyFingerprint(host.model), vocabularyFingerprint(draft));
    } catch (error) {
      log.warn(`Could not load the draft model ${draftModelPath} (${errorMessage(error)}); check streamsink.speculativeDraftModelPath.`);
    }
  }
  const decision = decideSpeculation(mode, { path: draftModelPath, comparison });
  const key = `${target.label}|${mode}|${draftModelPath}|${decision.kind}`;
  if (decision.reason && !reported.has(key)) {
    reported.add(key);
    log.warn(decision.reason);
  }
  if (decision.kind !== "draft" || draft == null) return createTokenPredictor(classes, decision.kind);
  let draftContext: LlamaContext | undefined;
  try {
    draftContext = await draft.createContext({ contextSize: target.contextSize, threads: host.threads });
    const context = draftContext;
    const predictor = createTokenPredictor(classes, "draft", { draftSequence: draftContext.getSequence(), sinks: target.sinks })!;
    const dispose = predictor.dispose.bind(predictor);
    predictor.dispose = () => {
      dispose();
      void context.dispose();
    };
    log.debug(`${target.label}: speculative decoding with the draft model ${draftModelPath}.`);
    return predictor;
  } catch (error) {
    if (draftContext) await draftContext.dispose();
    log.warn(`Could not create a context for the draft model (${errorMessage(error)}); using prompt lookup instead.`);
    return createTokenPredictor(classes, "lookup");
  }
}
