// Backend detection through the product's own engine (server/engine.ts, the code the language
// server runs): load a model with a given `streamsink.model.backend` setting and report what the
// engine chose, the device, the GPU layers and the status message the user would see.
//
//   node .gpu/bench/detect.mjs --model <gguf> [--backend auto|cuda|vulkan|metal|cpu] [--threads 4] [--json]
//
// Run one backend per process (llama.cpp addons of different backends do not share a process).
import path from "node:path";
import type { ServerStatus } from "../../common/protocol";
import { backends, defaultSettings, type Backend, type Settings } from "../../common/settings";
import { Engine } from "../../server/engine";
import type { Logger } from "../../server/log";
import { flag, int, parseArgs, printJson, round, str } from "./common";

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(str(args, "model"));
  const backend = str(args, "backend", "auto") as Backend;
  if (!backends.includes(backend)) throw new Error(`--backend must be one of ${backends.join(", ")}.`);
  const threads = int(args, "threads", 4);
  const json = flag(args, "json");

  const logLines: string[] = [];
  const log: Logger = {
    error: (m) => logLines.push(`error: ${m}`),
    warn: (m) => logLines.push(`warn: ${m}`),
    info: (m) => logLines.push(`info: ${m}`),
    debug: () => undefined,
    trace: () => undefined,
    setLevel: () => undefined,
  };
  const statuses: ServerStatus[] = [];
  const engine = new Engine(log, (s) => statuses.push(s));
  const settings: Settings = { ...defaultSettings, model: { path: modelPath, backend, gpuLayers: "auto" }, threads };
  const t0 = performance.now();
  await engine.configure(settings);
  const loadMs = performance.now() - t0;
  const status = engine.currentStatus;
  let gpuLayers: number | undefined;
  let totalLayers: number | undefined;
  let llamaGpu: string | undefined;
  let vramUsedMB: number | undefined;
  if (status.state === "ready") {
    const loaded = engine.requireModel();
    gpuLayers = loaded.model.gpuLayers;
    totalLayers = loaded.model.fileInsights.totalLayers;
    llamaGpu = loaded.llama.gpu === false ? "cpu" : loaded.llama.gpu;
    if (loaded.llama.gpu !== false) vramUsedMB = round((await loaded.llama.getVramState()).used / 2 ** 20, 1);
  }
  // The status a client would still show a second later (late load-progress events must not
  // turn "ready" back into "loading").
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const stateAfter1s = engine.currentStatus.state;
  await engine.dispose();

  const result = {
    bench: "gpu-detect",
    requestedBackend: backend,
    state: status.state,
    backend: status.backend ?? null,
    llamaGpu: llamaGpu ?? null,
    deviceNames: status.deviceNames ?? [],
    gpuLayers: gpuLayers ?? null,
    totalLayers: totalLayers ?? null,
    statusMessage: status.message,
    fellBack: backend !== "auto" && backend !== "cpu" && status.backend === "cpu",
    loadMs: round(loadMs, 1),
    vramUsedMB: vramUsedMB ?? null,
    stateAfter1s,
    statusSequence: statuses.map((s) => s.state),
    log: logLines.slice(-6),
    model: path.basename(modelPath),
  };
  console.log(
    `gpu-detect — backend setting "${backend}": ${result.state}, backend ${result.backend}, ` +
      `${result.deviceNames.join(", ") || "no GPU device"}, ${result.gpuLayers}/${result.totalLayers} layers on the GPU; ` +
      `status: ${result.statusMessage}`,
  );
  printJson(result, json);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
