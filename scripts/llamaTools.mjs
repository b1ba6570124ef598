// Builds llama.cpp's own programs (llama-bench, llama-completion, llama-server, ggml-rpc-server) from the
// llama.cpp source that node-llama-cpp ships (llama/gitRelease.bundle: the same commit as the
// embedded engine), once, into the git-ignored .tools/llama/<commit>/ (reused while the commit and
// the build options are the same). CPU build for this machine, with the RPC backend.
//
//   node scripts/llamaTools.mjs                 build what is missing, print the paths
//   node scripts/llamaTools.mjs --json          the same, paths as one JSON object on the last line
//   node scripts/llamaTools.mjs --jobs 2        parallel compile jobs (default: cores, at most 4)
//   node scripts/llamaTools.mjs --only llama-bench,llama-completion   just these programs
//
// Needs git, cmake and a C++ compiler (apt: cmake g++); ninja when present. No network: the web UI
// of llama-server is left out (LLAMA_BUILD_UI=OFF, no prebuilt download).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const llamaDir = path.join(repoRoot, "node_modules", "node-llama-cpp", "llama");
const bundle = path.join(llamaDir, "gitRelease.bundle");
export const llamaTargets = ["llama-bench", "llama-completion", "llama-server", "ggml-rpc-server"];
const cmakeOptions = [
  "-DCMAKE_BUILD_TYPE=Release",
  "-DBUILD_SHARED_LIBS=OFF",
  "-DGGML_NATIVE=ON",
  "-DGGML_RPC=ON",
  "-DLLAMA_CURL=OFF",
  "-DLLAMA_OPENSSL=OFF",
  "-DLLAMA_BUILD_TESTS=OFF",
  "-DLLAMA_BUILD_EXAMPLES=OFF",
  "-DLLAMA_BUILD_TOOLS=ON",
  "-DLLAMA_BUILD_SERVER=ON",
  "-DLLAMA_BUILD_UI=OFF",
  "-DLLAMA_USE_PREBUILT_UI=OFF",
];

const log = (message) => process.stderr.write(`[llama-tools] ${message}\n`);

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", maxBuffer: 64 << 20, ...options });
  if (result.error) throw new Error(`${command} could not run (${result.error.message}). Install it (Debian: apt-get install -y cmake g++ git).`);
  if (result.status !== 0) {
    const tail = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-25).join("\n");
    throw new Error(`${command} ${args.join(" ")} failed (exit ${result.status}):\n${tail}`);
  }
  return result.stdout.trim();
}

/** The llama.cpp commit node-llama-cpp ships (the bundle's HEAD, 12 hex digits). */
export function bundledCommit() {
  return run("git", ["bundle", "list-heads", bundle]).split(/\s+/)[0].slice(0, 12);
}

/** Where the programs are (whether or not they are built yet). */
export function llamaToolsDir() {
  return path.join(repoRoot, ".tools", "llama", bundledCommit());
}

/**
 * Paths of the built programs, building what is missing. `targets` (default: all of llamaTargets)
 * limits what is built now; the paths of the others are still returned (they may not exist).
 */
export function ensureLlamaTools({ jobs = Math.min(4, os.availableParallelism?.() ?? os.cpus().length), targets = llamaTargets } = {}) {
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm ci first.`);
  for (const t of targets) if (!llamaTargets.includes(t)) throw new Error(`unknown llama.cpp program "${t}" (known: ${llamaTargets.join(", ")})`);
  const dir = llamaToolsDir();
  const binDir = path.join(dir, "build", "bin");
  const paths = Object.fromEntries(llamaTargets.map((t) => [t, path.join(binDir, t)]));
  const stamp = path.join(dir, "options.json");
  const wanted = JSON.stringify({ cmakeOptions });
  const fresh = existsSync(stamp) && readFileSync(stamp, "utf8") === wanted && targets.every((t) => existsSync(paths[t]));
  if (fresh) {
    log(`cached in ${path.relative(repoRoot, dir)}`);
    return { dir, commit: bundledCommit(), ...paths };
  }
  const src = path.join(dir, "src");
  if (!existsSync(path.join(src, "CMakeLists.txt"))) {
    log(`unpacking llama.cpp ${bundledCommit()} from node-llama-cpp's bundle`);
    rmSync(src, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const tmp = `${src}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    run("git", ["clone", "-q", "--no-checkout", bundle, tmp]);
    run("git", ["-C", tmp, "-c", "advice.detachedHead=false", "checkout", "-q", "HEAD"]);
    renameSync(tmp, src);
  }
  const build = path.join(dir, "build");
  const generator = spawnSync("ninja", ["--version"]).status === 0 ? ["-G", "Ninja"] : [];
  const started = Date.now();
  log(`configuring (${generator.length > 0 ? "ninja" : "make"}, ${jobs} jobs)`);
  run("cmake", ["-S", src, "-B", build, ...generator, ...cmakeOptions]);
  log(`building ${targets.join(", ")} (minutes once; cached afterwards)`);
  run("cmake", ["--build", build, "--target", ...targets, "-j", String(jobs)]);
  for (const t of targets) if (!existsSync(paths[t])) throw new Error(`the build did not produce ${paths[t]}`);
  writeFileSync(stamp, wanted);
  log(`built in ${Math.round((Date.now() - started) / 1000)} s`);
  return { dir, commit: bundledCommit(), ...paths };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const jobsAt = args.indexOf("--jobs");
  const onlyAt = args.indexOf("--only");
  const targets = onlyAt >= 0 ? String(args[onlyAt + 1] ?? "").split(",").filter(Boolean) : llamaTargets;
  try {
    const tools = ensureLlamaTools({ ...(jobsAt >= 0 ? { jobs: Math.max(1, Number(args[jobsAt + 1]) || 1) } : {}), targets });
    for (const t of targets) process.stdout.write(`${t}: ${tools[t]}\n`);
    if (args.includes("--json")) process.stdout.write(`${JSON.stringify(tools)}\n`);
  } catch (error) {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
