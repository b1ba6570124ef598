// The engine owns llama.cpp for the whole server process: the Llama instance (backend), the model,
// and every context created from it, with a strict lifecycle — on reload or shutdown everything is
// disposed in order (features first, then contexts, then the model), never left to the GC.
import { availableParallelism } from "node:os";
import type { Llama, LlamaContext, LlamaModel } from "node-llama-cpp";
import type { ServerStatus } from "../common/protocol";
import type { Backend, SettingProblem, Settings } from "../common/settings";
import { loadLlamaCpp, type LlamaCpp } from "./llamaRuntime";
import { errorMessage, type Logger } from "./log";
import { contextNeedsReload, nextContextSize, resolveContextSettings, type ResolvedSettings } from "./contextSize";
import { checkModelFile, ModelFileError, modelDisplayName } from "./modelFile";
import { contextWarning } from "./memoryBudget";
import { memoryGuard } from "./memoryGuard";
import { SerialQueue } from "./serialQueue";
import { resolveThreads } from "./threads";

export class ModelNotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelNotReadyError";
  }
}

export interface LoadedModel {
  llamaCpp: LlamaCpp;
  llama: Llama;
  model: LlamaModel;
  /** Settings the model and its contexts were created with (context size resolved). */
  settings: ResolvedSettings;
  /** Threads to pass to every context (never left to node-llama-cpp's default). */
  threads: number;
}

/** A feature (chat, completions…) that holds contexts or sequences of the current model. */
export interface ModelListener {
  /** The model is ready (again): create what you need lazily from `loaded`. */
  modelReady?(loaded: LoadedModel): void;
  /** The model is about to be disposed: dispose your sequences and contexts now. */
  modelUnloading?(): Promise<void> | void;
}

function gpuOption(backend: Backend): "auto" | "cuda" | "vulkan" | "metal" | false {
  return backend === "cpu" ? false : backend;
}

/** Settings that change the loaded model itself (anything else only needs new contexts). */
function modelKey(settings: Settings): string {
  return JSON.stringify([settings.model.path, settings.model.backend, settings.model.gpuLayers]);
}

function contextKey(settings: Settings): string {
  return JSON.stringify([settings.context, settings.threads, settings.speculative, settings.speculativeDraftModelPath]);
}

export class Engine {
  private readonly queue = new SerialQueue();
  private readonly listeners = new Set<ModelListener>();
  private readonly contexts = new Set<LlamaContext>();
  private llama: Llama | undefined;
  private llamaBackend: Backend | undefined;
  private loaded: LoadedModel | undefined;
  private settings: Settings | undefined;
  private status: ServerStatus = { state: "starting", message: "Starting StreamSink server…" };
  private pendingSettings: Settings | undefined;
  private disposed = false;
  /** A notice to show with the next ready status (e.g. a GPU backend that was not available). */
  private backendNotice: string | undefined;

  constructor(
    private readonly log: Logger,
    private readonly publishStatus: (status: ServerStatus) => void,
  ) {}

  get currentStatus(): ServerStatus {
    return this.status;
  }

  get currentSettings(): Settings | undefined {
    return this.settings;
  }

  addListener(listener: ModelListener): { dispose(): void } {
    this.listeners.add(listener);
    if (this.loaded) listener.modelReady?.(this.loaded);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** The ready model, or a ModelNotReadyError that says why there is none. */
  requireModel(): LoadedModel {
    if (this.loaded) return this.loaded;
    throw new ModelNotReadyError(this.status.message);
  }

  /** Applies new settings; reloads only what they change. Calls are coalesced: the last one wins. */
  configure(settings: Settings): Promise<void> {
    this.log.setLevel(settings.logLevel);
    this.pendingSettings = settings;
    return this.queue.run(async () => {
      const next = this.pendingSettings;
      if (next === undefined || this.disposed) return;
      this.pendingSettings = undefined;
      const previous = this.settings;
      this.settings = next;
      // A larger context must pass the memory guarantee again, which is computed for the model and
      // its contexts together before loading: reload from scratch (the model file is in the page
      // cache by now). Smaller contexts, sinks, shift sizes and threads only recreate the contexts.
      const growsContext =
        previous !== undefined && this.loaded !== undefined && contextNeedsReload(previous.context.size, next.context.size, this.loaded.settings.context.size);
      if (previous && modelKey(previous) === modelKey(next) && this.loaded && !growsContext) {
        if (contextKey(previous) !== contextKey(next)) {
          this.log.info("Context settings changed: recreating contexts.");
          await this.notifyUnloading();
          const size = nextContextSize(next.context.size, this.loaded.settings.context.size);
          this.loaded = { ...this.loaded, settings: this.resolvedSettings(next, size), threads: this.resolveThreads(next, this.loaded.llama) };
          this.updateContextWarning(size, this.loaded.model.trainContextSize);
          this.notifyReady(this.loaded);
        }
        return;
      }
      // Otherwise (new model settings, or the same ones after a failure: the file may have been
      // fixed on disk) load from scratch.
      await this.unload();
      await this.load(next);
    });
  }

  /** Creates a context on the loaded model; it is disposed with the model if the caller forgets. */
  async createContext(options: { contextSize: number; sequences?: number; label: string }): Promise<LlamaContext> {
    const loaded = this.requireModel();
    const context = await loaded.model.createContext({
      contextSize: options.contextSize,
      sequences: options.sequences ?? 1,
      threads: loaded.threads,
      ignoreMemorySafetyChecks: false,
    });
    this.contexts.add(context);
    context.onDispose.createListener(() => this.contexts.delete(context));
    this.log.debug(`Created ${options.label} context: ${context.contextSize} tokens, ${loaded.threads} threads.`);
    return context;
  }

  async dispose(): Promise<void> {
    await this.queue.run(async () => {
      this.disposed = true;
      await this.unload();
      if (this.llama) await this.llama.dispose();
      this.llama = undefined;
    });
  }

  private setStatus(status: ServerStatus): void {
    this.status = status;
    this.publishStatus(status);
  }

  /** The warning about a context past the trained one follows a context-only change. */
  private updateContextWarning(size: number, trainContextSize: number | undefined): void {
    const warning = contextWarning(size, trainContextSize);
    if (warning === this.status.warning) return;
    if (warning) this.log.warn(warning);
    if (this.status.state === "ready") this.setStatus({ ...this.status, warning });
  }

  private resolvedSettings(settings: Settings, contextSize: number): ResolvedSettings {
    const problems: SettingProblem[] = [];
    const resolved = resolveContextSettings(settings, contextSize, problems);
    for (const problem of problems) this.log.warn(problem.message);
    return resolved;
  }

  private resolveThreads(settings: Settings, llama: Llama): number {
    const choice = resolveThreads(settings.threads, { physical: llama.cpuMathCores, logical: availableParallelism() });
    if (choice.notice) this.log.warn(choice.notice);
    return choice.threads;
  }

  private async getLlamaFor(llamaCpp: LlamaCpp, backend: Backend): Promise<Llama> {
    if (this.llama && this.llamaBackend === backend) return this.llama;
    if (this.llama) await this.llama.dispose();
    this.llama = undefined;
    const logger = (level: string, message: string) => {
      const text = message.trimEnd();
      if (text === "") return;
      if (level === "error" || level === "fatal") this.log.error(`llama.cpp: ${text}`);
      else if (level === "warn") this.log.warn(`llama.cpp: ${text}`);
      else this.log.trace(`llama.cpp: ${text}`);
    };
    this.backendNotice = undefined;
    try {
      this.llama = await llamaCpp.getLlama({
        gpu: gpuOption(backend),
        build: "never",
        logLevel: llamaCpp.LlamaLogLevel.warn,
        logger: logger as never,
      });
    } catch (error) {
      if (backend === "cpu") throw error;
      this.backendNotice = `The ${backend} backend is not available here (${errorMessage(error)}); running on the CPU instead.`;
      this.log.warn(this.backendNotice);
      this.llama = await llamaCpp.getLlama({
        gpu: false,
        build: "never",
        logLevel: llamaCpp.LlamaLogLevel.warn,
        logger: logger as never,
      });
    }
    this.llamaBackend = backend;
    const gpu = this.llama.gpu;
    const actual = gpu === false ? "cpu" : gpu;
    if (backend !== "auto" && actual !== backend && this.backendNotice === undefined) {
      // node-llama-cpp may substitute another backend (e.g. "metal" on Linux): say so.
      this.backendNotice = `The ${backend} backend is not available here; running on ${actual === "cpu" ? "the CPU" : actual} instead.`;
      this.log.warn(this.backendNotice);
    }
    this.log.info(`llama.cpp backend: ${gpu === false ? "cpu" : gpu} (${this.llama.buildType}).`);
    return this.llama;
  }

  private async load(settings: Settings): Promise<void> {
    const modelPath = settings.model.path;
    if (modelPath === "") {
      this.setStatus({
        state: "noModel",
        message: "No model configured. Set streamsink.model.path to a GGUF file (StreamSink: Select Model).",
      });
      return;
    }
    const modelName = modelDisplayName(modelPath);
    this.setStatus({ state: "loading", message: `Loading ${modelName}…`, modelName, modelPath, progress: 0 });
    try {
      const llamaCpp = await loadLlamaCpp();
      await checkModelFile(llamaCpp, modelPath);
      const llama = await this.getLlamaFor(llamaCpp, settings.model.backend);
      const budget = await memoryGuard.check(llamaCpp, llama, modelPath, settings);
      const started = performance.now();
      let lastReported = 0;
      let finished = false;
      const model = await llama.loadModel({
        modelPath,
        gpuLayers: settings.model.gpuLayers,
        onLoadProgress: (progress) => {
          // llama.cpp may report progress after the load resolved: never go back to "loading".
          if (finished || (progress - lastReported < 0.1 && progress < 1)) return;
          lastReported = progress;
          this.setStatus({ state: "loading", message: `Loading ${modelName}…`, modelName, modelPath, progress });
        },
      });
      finished = true;
      const backend = llama.gpu === false ? "cpu" : llama.gpu;
      const deviceNames = llama.gpu === false ? [] : await llama.getGpuDeviceNames();
      this.loaded = { llamaCpp, llama, model, settings: this.resolvedSettings(settings, budget.contextSize), threads: this.resolveThreads(settings, llama) };
      if (budget.contextWarning) this.log.warn(budget.contextWarning);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      this.log.info(
        `Loaded ${modelName} in ${seconds} s: backend ${backend}${deviceNames.length ? ` (${deviceNames.join(", ")})` : ""}, ` +
          `${model.gpuLayers} GPU layers, ${this.loaded.threads} threads, context ${budget.contextSize} (${budget.contextNote ?? ""}).`,
      );
      this.setStatus({
        state: "ready",
        message: this.backendNotice ?? `${modelName} is ready on ${backend}.`,
        modelName,
        modelPath,
        backend,
        deviceNames,
        warning: budget.contextWarning,
      });
      this.notifyReady(this.loaded);
    } catch (error) {
      const message =
        error instanceof ModelFileError
          ? error.message
          : `Could not load ${modelPath}: ${errorMessage(error)}. Check that it is a valid GGUF model for llama.cpp, ` +
            `or try a smaller context size or streamsink.model.backend = "cpu".`;
      this.log.error(message);
      this.setStatus({ state: "error", message, modelName, modelPath });
    }
  }

  private notifyReady(loaded: LoadedModel): void {
    for (const listener of this.listeners) {
      try {
        listener.modelReady?.(loaded);
      } catch (error) {
        this.log.error(`A feature failed to start on the new model: ${errorMessage(error)}`);
      }
    }
  }

  private async notifyUnloading(): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener.modelUnloading?.();
      } catch (error) {
        this.log.error(`A feature failed to release the model: ${errorMessage(error)}`);
      }
    }
    for (const context of [...this.contexts]) await context.dispose();
    this.contexts.clear();
  }

  private async unload(): Promise<void> {
    if (!this.loaded) return;
    await this.notifyUnloading();
    const { model } = this.loaded;
    this.loaded = undefined;
    await model.dispose();
  }
}
