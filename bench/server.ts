// The language server as the benchmarks run it: dist/server.js on the CPU with a quiet log, and
// nothing measured before the model is ready.
import { defaultSettings, type Settings } from "../common/settings";
import { startReadyServer, type ServerHandle } from "../test/support/serverProcess";

export interface BenchServerOptions {
  model: string;
  context: number;
  threads: number;
  gpuLayers?: Settings["model"]["gpuLayers"];
  completions?: Partial<Settings["completions"]>;
}

/** The default settings with this model, context size and threads, the CPU backend and log level warn. */
export function benchSettings(options: BenchServerOptions): Settings {
  return {
    ...defaultSettings,
    model: { ...defaultSettings.model, path: options.model, backend: "cpu", ...(options.gpuLayers === undefined ? {} : { gpuLayers: options.gpuLayers }) },
    context: { ...defaultSettings.context, size: options.context },
    threads: options.threads,
    logLevel: "warn",
    completions: { ...defaultSettings.completions, ...options.completions },
  };
}

/** Starts the server and waits (up to 2 minutes) for the model; throws "The model did not load: …". */
export function startBenchServer(settings: Settings, what = "The model did not load"): Promise<ServerHandle> {
  return startReadyServer(settings, { timeoutMs: 120_000, what });
}
