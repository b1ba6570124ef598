// `npm run llama-server`: llama.cpp's own HTTP server for StreamSink's remote backend (issue 14), built
// from the llama.cpp source node-llama-cpp ships (the same commit as the embedded engine; cached in
// .tools/llama/<commit>/ by scripts/llamaTools.mjs), started on 127.0.0.1 with a model. Prints the URL
// and the flags it was started with, waits for /health, and stops with Ctrl+C.
//
//   npm run llama-server -- [--model FILE] [--port 8090] [--ctx 4096] [--parallel 1] [--threads N]
//                           [--slot-save-path DIR] [--rpc-servers N] [--dry-run] [-- more llama-server flags]
//
// --model        default $STREAMSINK_MODEL, else ../shared/models/tinycoder-16m-q8_0.gguf
// --ctx          tokens per slot; default 0 = the model's training context (shared by the slots)
// --parallel     slots (one per concurrent StreamingLLM session: a chat, the completions)
// --rpc-servers  also start N ggml-rpc-server processes on 127.0.0.1 and split the model across them
//                with --rpc (what two hosts would do; see docs/REMOTE.md once written)
// --dry-run      build, then print the command instead of running it
// Always on: --cache-reuse 256 (a slid window keeps its cells instead of being evaluated again),
// --metrics, --slots, and the host 127.0.0.1 (put TLS and auth in front before exposing it).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureLlamaTools } from "./llamaTools.mjs";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const say = (message) => process.stderr.write(`[llama-server] ${message}\n`);

function parse(argv) {
  const split = argv.indexOf("--");
  const own = split >= 0 ? argv.slice(0, split) : argv;
  const extra = split >= 0 ? argv.slice(split + 1) : [];
  const options = {
    model: process.env.STREAMSINK_MODEL ?? path.resolve(repoRoot, "..", "shared", "models", "tinycoder-16m-q8_0.gguf"),
    port: 8090,
    ctx: 0,
    parallel: 1,
    threads: Math.max(1, (os.availableParallelism?.() ?? os.cpus().length) - 1),
    slotSavePath: path.join(repoRoot, ".cache", "llama-server", "slots"),
    rpcServers: 0,
    dryRun: false,
    extra,
  };
  const int = (name, value, min, max) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min || number > max) throw new Error(`--${name} must be an integer in ${min}..${max} (got ${value}).`);
    return number;
  };
  for (let i = 0; i < own.length; i++) {
    const flag = own[i];
    const value = () => {
      if (i + 1 >= own.length) throw new Error(`${flag} needs a value.`);
      return own[++i];
    };
    if (flag === "--model") options.model = path.resolve(value());
    else if (flag === "--port") options.port = int("port", value(), 1, 65535);
    else if (flag === "--ctx") options.ctx = int("ctx", value(), 0, 1 << 20);
    else if (flag === "--parallel") options.parallel = int("parallel", value(), 1, 64);
    else if (flag === "--threads") options.threads = int("threads", value(), 1, 1024);
    else if (flag === "--slot-save-path") options.slotSavePath = path.resolve(value());
    else if (flag === "--rpc-servers") options.rpcServers = int("rpc-servers", value(), 0, 8);
    else if (flag === "--dry-run") options.dryRun = true;
    else throw new Error(`unknown flag ${flag} (llama-server's own flags go after --).`);
  }
  return options;
}

function start(program, args, label) {
  const child = spawn(program, args, { stdio: ["ignore", "inherit", "inherit"] });
  child.on("exit", (code, signal) => {
    if (!stopping) {
      say(`${label} exited (${signal ?? `exit ${code}`}); stopping.`);
      stop(1);
    }
  });
  children.push(child);
  return child;
}

const children = [];
let stopping = false;
function stop(code) {
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  setTimeout(() => process.exit(code), 500).unref();
}

async function waitForHealth(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !stopping) {
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

async function main() {
  const options = parse(process.argv.slice(2));
  if (!existsSync(options.model)) throw new Error(`no model at ${options.model}: pass --model FILE.gguf or set STREAMSINK_MODEL.`);
  const tools = ensureLlamaTools({ targets: options.rpcServers > 0 ? ["llama-server", "ggml-rpc-server"] : ["llama-server"] });
  mkdirSync(options.slotSavePath, { recursive: true });
  const rpc = Array.from({ length: options.rpcServers }, (_, i) => `127.0.0.1:${options.port + 100 + i}`);
  const args = [
    "--model", options.model,
    "--host", "127.0.0.1",
    "--port", String(options.port),
    "--ctx-size", String(options.ctx * options.parallel),  // 0: the model's training context, shared by the slots
    "--parallel", String(options.parallel),
    "--threads", String(options.threads),
    "--cache-reuse", "256",
    "--slot-save-path", options.slotSavePath,
    "--metrics",
    "--slots",
    ...(rpc.length > 0 ? ["--rpc", rpc.join(","), "--n-gpu-layers", "999"] : []),
    ...options.extra,
  ];
  const url = `http://127.0.0.1:${options.port}`;
  say(`llama.cpp ${tools.commit}: ${tools["llama-server"]}`);
  say(`flags: ${args.join(" ")}`);
  if (options.dryRun) {
    process.stdout.write(`${[tools["llama-server"], ...args].join(" ")}\n`);
    return;
  }
  process.on("SIGINT", () => stop(0));
  process.on("SIGTERM", () => stop(0));
  for (const [i, endpoint] of rpc.entries()) {
    const port = endpoint.split(":")[1];
    say(`rpc-server ${i + 1}/${rpc.length} on ${endpoint}`);
    start(tools["ggml-rpc-server"], ["--host", "127.0.0.1", "--port", port, "--threads", "1"], `rpc-server ${endpoint}`);
  }
  if (rpc.length > 0) await new Promise((resolve) => setTimeout(resolve, 1000));
  start(tools["llama-server"], args, "llama-server");
  if (await waitForHealth(url, 120_000)) {
    const props = await fetch(`${url}/props`).then((response) => response.json()).catch(() => undefined);
    const perSlot = props?.default_generation_settings?.n_ctx;
    say(`ready: ${url}  (${options.parallel} slot${options.parallel > 1 ? "s" : ""}${perSlot ? ` of ${perSlot} tokens` : ""}; Ctrl+C stops)`);
    process.stdout.write(`${url}\n`);
  } else if (!stopping) {
    say(`${url}/health did not answer within 120 s; stopping.`);
    stop(1);
  }
}

main().catch((error) => {
  say(error instanceof Error ? error.message : String(error));
  stop(1);
});
