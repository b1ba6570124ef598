// The llama.cpp backend (node-llama-cpp's Llama) for the backend the settings ask for: kept while
// the backend stays the same, replaced otherwise, falling back to the CPU when a GPU backend is not
// available (with a notice for the user), and disposed with a bound. llama.cpp's log goes to ours.
import type { Llama } from "node-llama-cpp";
import type { Backend } from "../../common/settings";
import type { LlamaCpp } from "../llamaRuntime";
import { errorMessage, type Logger } from "../log";
import { settlesWithin } from "./loadControl";

function gpuOption(backend: Backend): "auto" | "cuda" | "vulkan" | "metal" | false {
  return backend === "cpu" ? false : backend;
}

export class LlamaBackend {
  private llama: Llama | undefined;
  private backend: Backend | undefined;
  /** A notice to show with the next ready status (e.g. a GPU backend that was not available). */
  notice: string | undefined;
  /** llama.cpp's own reason for the last failed model load (from its log), shown with the failure. */
  loadError: string | undefined;

  constructor(private readonly log: Logger) {}

  async get(llamaCpp: LlamaCpp, backend: Backend): Promise<Llama> {
    if (this.llama && this.backend === backend) return this.llama;
    await this.dispose();
    const logger = (level: string, message: string) => {
      const text = message.trimEnd();
      if (text === "") return;
      if (level === "error" || level === "fatal") {
        this.log.error(`llama.cpp: ${text}`);
        if (/error loading model/.test(text)) this.loadError = text.slice(0, 300);
      }
      else if (level === "warn") this.log.warn(`llama.cpp: ${text}`);
      else this.log.trace(`llama.cpp: ${text}`);
    };
    this.notice = undefined;
    try {
      this.llama = await llamaCpp.getLlama({
        gpu: gpuOption(backend),
        build: "never",
        logLevel: llamaCpp.LlamaLogLevel.warn,
        logger: logger as never,
      });
    } catch (error) {
      if (backend === "cpu") throw error;
      this.notice = `The ${backend} backend is not available here (${errorMessage(error)}); running on the CPU instead.`;
      this.log.warn(this.notice);
      this.llama = await llamaCpp.getLlama({
        gpu: false,
        build: "never",
        logLevel: llamaCpp.LlamaLogLevel.warn,
        logger: logger as never,
      });
    }
    this.backend = backend;
    const gpu = this.llama.gpu;
    const actual = gpu === false ? "cpu" : gpu;
    if (backend !== "auto" && actual !== backend && this.notice === undefined) {
      // node-llama-cpp may substitute another backend (e.g. "metal" on Linux): say so.
      this.notice = `The ${backend} backend is not available here; running on ${actual === "cpu" ? "the CPU" : actual} instead.`;
      this.log.warn(this.notice);
    }
    this.log.info(`llama.cpp backend: ${gpu === false ? "cpu" : gpu} (${this.llama.buildType}).`);
    return this.llama;
  }

  /** Disposes the backend, bounded (see settlesWithin: a failed native load can make it wait forever). */
  async dispose(): Promise<void> {
    const llama = this.llama;
    this.llama = undefined;
    if (!llama) return;
    if (!(await settlesWithin(llama.dispose(), 3000))) {
      this.log.warn("The llama.cpp backend did not release within 3 s (a model load failed inside llama.cpp earlier); going on without waiting.");
    }
  }
}
