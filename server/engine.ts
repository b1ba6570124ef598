// The engine owns llama.cpp for the whole server process: the Llama instance (backend), the model,
// and every context created from it, with a strict lifecycle — on reload or shutdown everything is
// disposed in order (features first, then contexts, then the model), never left to the GC.
import { availableParallelism } from "node:os";
import path from "node:path";
import type { Llama, LlamaContext, LlamaModel } from "node-llama-cpp";
import type { ServerStatus } from "../common/protocol";
import type { SettingProblem, Settings } from "../common/settings";
import { loadLlamaCpp, type LlamaCpp } from "./llamaRuntime";
import { errorMessage, type Logger } from "./log";
import { contextNeedsReload, joinWarnings, nextContextSize, resolveContextSettings, type ResolvedSettings } from "./contextSize";
import { checkModelFile, ModelFileError, modelDisplayName } from "./model/modelFile";
import { contextWarning } from "./model/memoryBudget";
import { memoryGuard } from "./model/memoryGuard";
import { LlamaBackend } from "./model/backend";
import { LoadAbortedError, LoadControl } from "./model/loadControl";
import { crashedLoadMessage, loadFailureMessage, threadsNotice } from "./model/loadMessages";
import { LoadMarkers } from "./model/loadMarker";
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
  private loaded: LoadedModel | undefined;
  private settings: Settings | undefined;
  private status: ServerStatus = { state: "starting", message: "Starting StreamSink server…" };
  private pendingSettings: Settings | undefined;
  private disposed = false;
  /** The load in progress (checked, then loaded); a newer configuration for another model aborts it. */
  private currentLoad: { control: LoadControl; key: string } | undefined;
  private readonly markers = new LoadMarkers();
  private readonly backend: LlamaBackend;
  /** The `threads` value the user was last told is above the machine's cores (told once per value). */
  private threadsTold: Settings["threads"] | undefined;
  /** The status the loaded model was announced with (restored when a failed choice is undone). */
  private readyStatus: ServerStatus | undefined;
  /** Sink/shift settings lowered to fit an explicit context size (see resolvedSettings). */
  private fitWarning: string | undefined;

  constructor(
    private readonly log: Logger,
    private readonly publishStatus: (status: ServerStatus) => void,
  ) {
    this.backend = new LlamaBackend(log);
  }

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

  /**
   * The folder the client gave for KV snapshots (the extension's global storage + "/kv"): crash
   * markers of model loads go beside it, in "<global storage>/load-markers".
   */
  setStoragePath(storagePath: string | undefined): void {
    if (storagePath !== undefined) this.markers.setDirectory(path.join(path.dirname(storagePath), "load-markers"));
  }

  /**
   * Applies new settings; reloads only what they change. Calls are coalesced: the last one wins, and
   * a load in progress for other model settings is cancelled, so choosing another model always wins.
   */
  configure(settings: Settings): Promise<void> {
    this.log.setLevel(settings.logLevel);
    this.pendingSettings = settings;
    if (this.currentLoad && this.currentLoad.key !== modelKey(settings)) this.currentLoad.control.supersede();
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
          const threads = this.resolveThreads(next, this.loaded.llama);
          const size = nextContextSize(next.context.size, this.loaded.settings.context.size);
          this.loaded = { ...this.loaded, settings: this.resolvedSettings(next, size), threads };
          this.updateContextWarning(size, this.loaded.model.trainContextSize);
          const notice = threadsNotice(next, threads);
          if (notice !== "" && this.status.state === "ready") {
            this.setStatus({ ...this.status, message: `${modelDisplayName(next.model.path)} is ready.${notice}` });
          }
          this.notifyReady(this.loaded);
        }
        // Back to the model that stayed loaded after a failed choice: ready again.
        if (this.status.state === "error" && this.readyStatus) this.setStatus(this.readyStatus);
        return;
      }
      // Otherwise (new model settings, or the same ones after a failure: the file may have been
      // fixed on disk) load from scratch.
      await this.replaceModel(previous, next);
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
      await this.backend.dispose();
    });
  }

  private setStatus(status: ServerStatus): void {
    this.status = status;
    if (status.state === "ready") this.readyStatus = status;
    this.publishStatus(status);
  }

  /** The warning about a context past the trained one follows a context-only change. */
  private updateContextWarning(size: number, trainContextSize: number | undefined): void {
    const note = contextWarning(size, trainContextSize);
    const warning = joinWarnings(note, this.fitWarning);
    if (warning === this.status.warning) return;
    if (note) this.log.warn(note);
    if (this.status.state === "ready") this.setStatus({ ...this.status, warning });
  }

  private resolvedSettings(settings: Settings, contextSize: number): ResolvedSettings {
    const problems: SettingProblem[] = [];
    const resolved = resolveContextSettings(settings, contextSize, problems);
    // Sinks/shift too large for an explicit size are shown to the user with the ready status
    // (a notification, like every settings problem); with "auto" they are logged.
    const explicit = settings.context.size !== "auto";
    if (!explicit) for (const problem of problems) this.log.warn(problem.message);
    this.fitWarning = explicit && problems.length > 0 ? problems.map((problem) => problem.message).join(" ") : undefined;
    return resolved;
  }

  /** `threads` by the rule of server/threads.ts (auto = physical cores − 1, never above the logical cores); told once. */
  private resolveThreads(settings: Settings, llama: Llama): number {
    const choice = resolveThreads(settings.threads, { physical: llama.cpuMathCores, logical: availableParallelism() });
    if (choice.notice && this.threadsTold !== settings.threads) {
      this.threadsTold = settings.threads;
      this.log.warn(choice.notice);
    }
    return choice.threads;
  }

  /**
   * Checks the new model file while the previous model keeps serving; only a file that passes
   * replaces it. Every step is bounded by the load's LoadControl (superseded or timed out).
   */
  private async replaceModel(previous: Settings | undefined, settings: Settings): Promise<void> {
    const modelPath = settings.model.path;
    if (modelPath === "") {
      await this.unload();
      this.setStatus({
        state: "noModel",
        message: "No model configured. Set streamsink.model.path to a GGUF file (StreamSink: Select Model).",
      });
      return;
    }
    const modelName = modelDisplayName(modelPath);
    const control = new LoadControl(modelPath);
    this.currentLoad = { control, key: modelKey(settings) };
    try {
      this.setStatus({ state: "loading", message: `Checking ${modelName}…`, modelName, modelPath, progress: 0 });
      let sizeBytes: number;
      try {
        const facts = await control.untilAborted(checkModelFile(undefined, modelPath));
        sizeBytes = facts.sizeBytes;
        this.log.info(`Checked ${modelName} in ${facts.checkMs.toFixed(1)} ms (GGUF header ${facts.header.bytesRead} bytes read).`);
        const crashed = await this.markers.takeCrashed(modelPath, sizeBytes);
        if (crashed) {
          throw new ModelFileError(crashedLoadMessage(modelPath, crashed.startedAt));
        }
      } catch (error) {
        this.keepPrevious(previous, modelPath, error);
        return;
      }
      await this.unload();
      await this.markers.write(modelPath, sizeBytes, "loading");
      try {
        await this.load(settings, control);
      } finally {
        await this.markers.clear(modelPath);
      }
    } catch (error) {
      this.reportFailure(modelPath, error);
    } finally {
      control.finish();
      if (this.currentLoad?.control === control) this.currentLoad = undefined;
    }
  }

  /** The new file failed its check: the loaded model (if any) stays, with a status that says why. */
  private keepPrevious(previous: Settings | undefined, modelPath: string, error: unknown): void {
    if (!this.loaded || !previous) {
      this.reportFailure(modelPath, error);
      return;
    }
    if (error instanceof LoadAbortedError && error.superseded) return;
    const message = loadFailureMessage(modelPath, error);
    this.log.error(message);
    this.settings = previous;
    const keptName = modelDisplayName(this.loaded.settings.model.path);
    // An error the user sees (status bar, notification) for the file they chose, while the model
    // that was loaded keeps serving; choosing it again (or any good file) makes the status ready.
    this.setStatus({
      state: "error",
      message: `${message} ${keptName} stays loaded.`,
      modelName: modelDisplayName(modelPath),
      modelPath,
    });
  }

  private reportFailure(modelPath: string, error: unknown): void {
    if (error instanceof LoadAbortedError && error.superseded) {
      this.log.info(error.message);
      return;
    }
    const message = loadFailureMessage(modelPath, error, this.backend.loadError);
    this.log.error(message);
    if (!(error instanceof ModelFileError) && !(error instanceof LoadAbortedError)) this.log.debug(`Load error details: ${errorMessage(error)}`);
    this.setStatus({ state: "error", message, modelName: modelDisplayName(modelPath), modelPath });
  }

  private async load(settings: Settings, control: LoadControl): Promise<void> {
    const modelPath = settings.model.path;
    const modelName = modelDisplayName(modelPath);
    this.setStatus({ state: "loading", message: `Loading ${modelName}…`, modelName, modelPath, progress: 0 });
    this.backend.loadError = undefined;
    const llamaCpp = await control.untilAborted(loadLlamaCpp());
    const llama = await control.untilAborted(this.backend.get(llamaCpp, settings.model.backend));
    const budget = await control.untilAborted(memoryGuard.check(llamaCpp, llama, modelPath, settings));
    const started = performance.now();
    let lastReported = 0;
    let finished = false;
    const model = await control.untilAborted(
      llama.loadModel({
        modelPath,
        gpuLayers: settings.model.gpuLayers,
        loadSignal: control.signal,
        onLoadProgress: (progress) => {
          // llama.cpp may report progress after the load resolved: never go back to "loading".
          if (finished || control.signal.aborted || (progress - lastReported < 0.1 && progress < 1)) return;
          lastReported = progress;
          this.setStatus({ state: "loading", message: `Loading ${modelName}…`, modelName, modelPath, progress });
        },
      }),
      (late) => void late.dispose(),
    );
    finished = true;
    await this.markers.clear(modelPath); // loaded: whatever happens from now on is not this load's fault
    const backend = llama.gpu === false ? "cpu" : llama.gpu;
    const deviceNames = llama.gpu === false ? [] : await llama.getGpuDeviceNames();
    const threads = this.resolveThreads(settings, llama);
    this.loaded = { llamaCpp, llama, model, settings: this.resolvedSettings(settings, budget.contextSize), threads };
    if (budget.contextWarning) this.log.warn(budget.contextWarning);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    this.log.info(
      `Loaded ${modelName} in ${seconds} s: backend ${backend}${deviceNames.length ? ` (${deviceNames.join(", ")})` : ""}, ` +
        `${model.gpuLayers} GPU layers, ${threads} threads, context ${budget.contextSize} (${budget.contextNote ?? ""}).`,
    );
    this.setStatus({
      state: "ready",
      message: (this.backend.notice ?? `${modelName} is ready on ${backend}.`) + threadsNotice(settings, threads),
      modelName,
      modelPath,
      backend,
      deviceNames,
      warning: joinWarnings(budget.contextWarning, this.fitWarning),
    });
    this.notifyReady(this.loaded);
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
