#!/usr/bin/env node
// npm run package — builds and writes a platform-specific .vsix for desktop VS Code
// (`code --install-extension <file>`).
//
//   node scripts/package.mjs [--gpu vulkan|cuda|none|all[,…]] [--out file.vsix] [--no-build] [--production]
//                            [--log file] [--verbose]
//
// The console gets one line per step with its duration; the build's and vsce's own output (esbuild's
// size table, vsce's file tree and its "you should bundle" advice, which is about node-llama-cpp's
// files: they load at run time next to its native addon and cannot be bundled) goes to the log file
// (default .cache/package/package.log, path printed; npm start passes its own). --verbose prints it all instead.
//
// What goes in: the files that .vscodeignore (an allowlist) re-includes (dist/, media/, README, …),
// plus node-llama-cpp — the only module the bundles load at run time — with its runtime dependency
// closure, and ONLY this platform's @node-llama-cpp/* binaries:
//   - the CPU package (e.g. linux-x64) always;
//   - GPU variants per --gpu: default `vulkan` (≈70 MB); `cuda` adds linux-x64-cuda + -cuda-ext
//     (≈540 MB, so only on request); `none` = CPU only; `all` = every GPU variant of this platform.
// Every selected binary package must contain its llama-addon `.node` file (a "-ext" package, e.g.
// linux-x64-cuda-ext, its bins/ libraries), otherwise packaging fails.
//
// How: vsce's own rule for node_modules (`npm list --production`) would take every optional
// platform package, and its .vscodeignore negations cannot be scoped per platform, so the script
// stages the extension in .cache/package/stage-<pid> (hard links, no copies): the allowlisted files via
// vsce's own listFiles(), and the node_modules closure it computes. vsce then packages the stage.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { zipEntries } from "./zipEntries.mjs";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// One stage per run (several people may package in the same checkout at once); removed afterwards.
const stageRoot = path.join(repoRoot, ".cache", "package", `stage-${process.pid}`);
const stageDir = path.join(stageRoot, "extension");

/** Files inside packages that the extension never needs at run time (path relative to the package). */
const PACKAGE_EXCLUDES = {
  // llama.cpp source bundle, only used to build from source (34 MB).
  "node-llama-cpp": ["llama/gitRelease.bundle"],
};

/** Files in node_modules that nothing loads at run time: source maps, TypeScript sources and declarations. */
const DEV_ONLY_FILE = /\.(?:map|[cm]?ts)$/;

const GPU_VARIANTS = {
  "linux-x64": { vulkan: ["vulkan"], cuda: ["cuda", "cuda-ext"] },
  "win-x64": { vulkan: ["vulkan"], cuda: ["cuda", "cuda-ext"] },
};

/** Where the build's and vsce's output go (set from --log; undefined with --verbose). */
let logFile;

function appendLog(text) {
  if (logFile) fs.appendFileSync(logFile, text.endsWith("\n") ? text : `${text}\n`);
}

function log(msg) {
  process.stdout.write(`[package] ${msg}\n`);
  appendLog(`[package] ${msg}`);
}

/** Details for the log file only. */
function detail(msg) {
  if (logFile) appendLog(`[package] ${msg}`);
  else process.stdout.write(`[package] ${msg}\n`);
}

function fail(msg) {
  fs.rmSync(stageRoot, { recursive: true, force: true });
  process.stderr.write(`[package] ERROR: ${msg}\n`);
  appendLog(`[package] ERROR: ${msg}`);
  if (logFile) process.stderr.write(`[package] details: ${path.relative(process.cwd(), logFile) || logFile}\n`);
  process.exit(1);
}

function seconds(since) {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function parseArgs(argv) {
  const opts = { gpu: ["vulkan"], out: undefined, build: true, production: false, log: undefined, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    if (a === "--gpu" || a.startsWith("--gpu=")) {
      opts.gpu = value().split(",").map((s) => s.trim()).filter(Boolean);
      for (const g of opts.gpu) if (!["vulkan", "cuda", "none", "all"].includes(g)) fail(`unknown --gpu value "${g}" (vulkan, cuda, none, all)`);
    } else if (a === "--out" || a.startsWith("--out=")) opts.out = path.resolve(value());
    else if (a === "--no-build") opts.build = false;
    else if (a === "--log" || a.startsWith("--log=")) opts.log = path.resolve(value());
    else if (a === "--verbose") opts.verbose = true;
    else if (a === "--production") opts.production = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 25).map((l) => l.replace(/^\/\/ ?/, "")).join("\n") + "\n");
      process.exit(0);
    } else fail(`unknown argument ${a}`);
  }
  return opts;
}

/** VS Code target and node-llama-cpp binary-package prefix for this machine. */
function platformInfo() {
  const arch = process.arch === "arm" ? "armv7l" : process.arch;
  const nlcOs = { linux: "linux", darwin: "mac", win32: "win" }[process.platform];
  if (!nlcOs) fail(`unsupported platform ${process.platform}`);
  const vsTarget = `${process.platform}-${process.arch === "arm" ? "armhf" : process.arch}`;
  const base = `${nlcOs}-${arch}`;
  const cpuPackage = base === "mac-arm64" ? "mac-arm64-metal" : base;
  return { base, cpuPackage, vsTarget };
}

function selectBinaryPackages(gpu) {
  const { base, cpuPackage } = platformInfo();
  const selected = new Set([cpuPackage]);
  const variants = GPU_VARIANTS[base] ?? {};
  const wanted = gpu.includes("all") ? Object.keys(variants) : gpu.filter((g) => g !== "none");
  for (const g of wanted) {
    if (!variants[g]) {
      log(`note: no ${g} variant of node-llama-cpp exists for ${base}; skipped`);
      continue;
    }
    for (const v of variants[g]) selected.add(`${base}-${v}`);
  }
  return [...selected].map((s) => `@node-llama-cpp/${s}`);
}

/** Runs a command; its output goes to the log file (or the console with --verbose). */
function run(cmd, args, opts = {}) {
  detail(`$ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, {
    cwd: repoRoot,
    ...opts,
    stdio: logFile ? ["ignore", "pipe", "pipe"] : "inherit",
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const output = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  appendLog(output);
  if (r.error) fail(`${cmd} could not start: ${r.error.message}`);
  if (r.status !== 0) {
    if (logFile) process.stderr.write(output.split("\n").slice(-40).join("\n") + "\n");
    fail(`${cmd} ${args.join(" ")} exited with ${r.status}`);
  }
}

/** Bare module specifiers that the bundles load at run time (everything esbuild left external). */
function runtimeExternals() {
  const builtins = new Set(builtinModules);
  const found = new Set();
  for (const file of fs.readdirSync(path.join(repoRoot, "dist"))) {
    if (!file.endsWith(".js")) continue;
    const src = fs.readFileSync(path.join(repoRoot, "dist", file), "utf8");
    for (const m of src.matchAll(/\b(?:require|import)\(\s*["']([^"'./][^"']*)["']\s*\)/g)) {
      const spec = m[1];
      if (spec.startsWith("node:") || spec === "vscode") continue;
      const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
      if (builtins.has(name)) continue;
      found.add(name);
    }
  }
  return [...found].sort();
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** Node's resolution: the nearest node_modules/<name> walking up from `fromDir` (not above the repo). */
function resolvePackageDir(name, fromDir) {
  let dir = fromDir;
  for (;;) {
    const candidate = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(candidate, "package.json"))) return candidate;
    if (dir === repoRoot || dir === path.dirname(dir)) return undefined;
    dir = path.dirname(dir);
  }
}

/** Runtime closure (dependencies + installed optionalDependencies) of the given roots. */
function dependencyClosure(roots, binaryPackages) {
  const closure = new Map(); // abs dir -> { name, version }
  const queue = roots.map((name) => ({ name, from: repoRoot, optional: false, parent: "dist bundle" }));
  while (queue.length > 0) {
    const { name, from, optional, parent } = queue.shift();
    if (name.startsWith("@node-llama-cpp/") && !binaryPackages.includes(name)) continue;
    const dir = resolvePackageDir(name, from);
    if (!dir) {
      if (optional) continue;
      fail(`${name} (needed by ${parent}) is not installed: run \`npm ci\``);
    }
    if (closure.has(dir)) continue;
    const pkg = readJson(path.join(dir, "package.json"));
    closure.set(dir, { name, version: pkg.version });
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false, parent: name });
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true, parent: name });
  }
  return closure;
}

/** Every selected binary package must be installed and carry its native addon. */
function checkBinaries(binaryPackages, closure) {
  const names = new Set([...closure.values()].map((p) => p.name));
  const problems = [];
  for (const name of binaryPackages) {
    const dir = resolvePackageDir(name, path.join(repoRoot, "node_modules", "node-llama-cpp"));
    if (!dir || !names.has(name)) {
      problems.push(`${name} is not installed (optional dependency of node-llama-cpp; run \`npm ci\` on this platform, with optional dependencies)`);
      continue;
    }
    const files = walkFiles(dir);
    if (isExtensionPackage(name)) {
      // e.g. linux-x64-cuda-ext: extra shared libraries for its base package, no addon of its own.
      if (!files.some((f) => f.includes(`${path.sep}bins${path.sep}`))) problems.push(`${name} has no bins/ files in ${path.relative(repoRoot, dir)}`);
    } else if (!files.some((f) => path.basename(f) === "llama-addon.node")) {
      problems.push(`${name} has no llama-addon.node in ${path.relative(repoRoot, dir)}`);
    }
  }
  if (problems.length > 0) fail(`missing native binaries:\n  - ${problems.join("\n  - ")}`);
}

function walkFiles(dir, { skipNodeModules = false, excludes = [], base = dir } = {}) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, entry.name);
    const rel = path.relative(base, abs).split(path.sep).join("/");
    if (excludes.includes(rel)) continue;
    if (skipNodeModules && DEV_ONLY_FILE.test(entry.name)) continue;
    if (entry.isDirectory()) {
      if (skipNodeModules && entry.name === "node_modules") continue;
      for (const file of walkFiles(abs, { skipNodeModules, excludes, base })) out.push(file);
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      out.push(abs);
    }
  }
  return out;
}

function linkInto(srcAbs, destAbs) {
  fs.mkdirSync(path.dirname(destAbs), { recursive: true });
  const real = fs.realpathSync(srcAbs);
  try {
    fs.linkSync(real, destAbs);
  } catch {
    fs.copyFileSync(real, destAbs);
  }
}

function humanSize(bytes) {
  return bytes > 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} kB`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  if (!opts.verbose) {
    // The default log is this run's alone; a log given with --log (npm start's) is appended to.
    logFile = opts.log ?? path.join(repoRoot, ".cache", "package", "package.log");
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    const header = `npm run package ${process.argv.slice(2).join(" ")} — ${new Date().toISOString()}\n`;
    if (opts.log) fs.appendFileSync(logFile, header);
    else fs.writeFileSync(logFile, header);
  }
  const manifest = readJson(path.join(repoRoot, "package.json"));
  const { vsTarget } = platformInfo();

  if (opts.build) {
    const started = Date.now();
    // No source maps: they are not shipped, so the bundles must not point at them.
    run("npm", ["run", "build", "--", "--no-sourcemap", ...(opts.production ? ["--production"] : [])]);
    log(`build: ${seconds(started)} (${bundleSizes()})`);
  }
  for (const f of ["dist/extension.js", "dist/server.js"]) {
    if (!fs.existsSync(path.join(repoRoot, f))) fail(`${f} is missing: the build did not produce it`);
  }
  const staging = Date.now();

  const externals = runtimeExternals();
  detail(`run-time externals of dist/*.js: ${externals.join(", ") || "(none)"}`);
  const binaryPackages = selectBinaryPackages(opts.gpu);
  detail(`binaries for ${vsTarget}: ${binaryPackages.join(", ")}`);
  const closure = dependencyClosure(externals, binaryPackages);
  checkBinaries(binaryPackages, closure);
  detail(`node_modules closure: ${closure.size} packages`);

  // Stage: the allowlisted extension files (vsce's own .vscodeignore semantics) + the closure.
  const { listFiles, PackageManager } = await import("@vscode/vsce");
  const topFiles = await listFiles({ cwd: repoRoot, packageManager: PackageManager.None });
  fs.rmSync(stageRoot, { recursive: true, force: true });
  fs.mkdirSync(stageDir, { recursive: true });
  for (const rel of topFiles) {
    if (rel === "package.json") continue;
    linkInto(path.join(repoRoot, rel), path.join(stageDir, rel));
  }
  let stagedModules = 0;
  for (const [dir, { name }] of closure) {
    const relDir = path.relative(repoRoot, dir);
    for (const file of walkFiles(dir, { skipNodeModules: true, excludes: PACKAGE_EXCLUDES[name] ?? [] })) {
      linkInto(file, path.join(stageDir, relDir, path.relative(dir, file)));
      stagedModules++;
    }
  }
  // The shipped manifest lists what is really loaded at run time (the rest is bundled into dist/).
  const staged = { ...manifest };
  staged.dependencies = Object.fromEntries(externals.map((n) => [n, manifest.dependencies?.[n] ?? closureVersion(closure, n)]));
  delete staged.devDependencies;
  if (staged.scripts) {
    staged.scripts = { ...staged.scripts };
    delete staged.scripts["vscode:prepublish"]; // already built above
  }
  fs.writeFileSync(path.join(stageDir, "package.json"), JSON.stringify(staged, null, 2) + "\n");
  // In the stage everything is wanted; vsce's default ignores (.git, *.vsix, …) still apply.
  fs.writeFileSync(path.join(stageDir, ".vscodeignore"), "# generated by scripts/package.mjs\n");
  log(
    `staged ${topFiles.length} extension files + ${stagedModules} files of ${closure.size} run-time packages ` +
      `(${externals.join(", ")}; binaries ${binaryPackages.map((name) => name.replace("@node-llama-cpp/", "")).join(", ")}): ${seconds(staging)}`,
  );

  const out = opts.out ?? path.join(repoRoot, `${manifest.name}-${manifest.version}-${vsTarget}.vsix`);
  const vsceArgs = ["package", "--target", vsTarget, "--out", out, "--dependencies", "--no-yarn"];
  // Without a repository URL vsce cannot rewrite README's relative links: keep them as they are.
  if (!manifest.repository) vsceArgs.push("--allow-missing-repository", "--no-rewrite-relative-links");
  if (!fs.readdirSync(repoRoot).some((f) => /^licen[sc]e/i.test(f))) vsceArgs.push("--skip-license");
  const packing = Date.now();
  // vsce has no flag for its file tree nor for its advice to bundle (1,500 files, 875 of them
  // JavaScript): both go to the log file. That JavaScript is node-llama-cpp's, loaded at run time
  // beside its native addon; our own code is bundled into dist/.
  appendLog("[package] note: vsce's \"you should bundle\" advice below concerns node-llama-cpp's files, which cannot be bundled (ESM loaded at run time with its native addon); dist/ is already bundled.");
  run(process.execPath, [path.join(repoRoot, "node_modules", "@vscode", "vsce", "vsce"), ...vsceArgs], { cwd: stageDir });
  log(`vsce package: ${seconds(packing)}`);

  // Verify the result from the zip itself.
  let entries;
  try {
    entries = zipEntries(out);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const names = new Set(entries.map((e) => e.name));
  const must = ["extension/package.json", "extension/dist/extension.js", "extension/dist/server.js"];
  for (const [dir] of closure) must.push(`extension/${path.relative(repoRoot, dir).split(path.sep).join("/")}/package.json`);
  const missing = must.filter((m) => !names.has(m));
  const addons = entries.filter((e) => e.name.endsWith(".node")).map((e) => e.name);
  for (const bin of binaryPackages) {
    if (isExtensionPackage(bin)) {
      if (!entries.some((e) => e.name.startsWith(`extension/node_modules/${bin}/bins/`))) missing.push(`bins/ of ${bin}`);
      continue;
    }
    if (!addons.some((a) => a.startsWith(`extension/node_modules/${bin}/`) && a.endsWith("/llama-addon.node"))) {
      missing.push(`llama-addon.node of ${bin}`);
    }
  }
  const foreign = [...new Set(entries.map((e) => /^extension\/node_modules\/(@node-llama-cpp\/[^/]+)\//.exec(e.name)?.[1]).filter(Boolean))].filter(
    (p) => !binaryPackages.includes(p),
  );
  // Sources and source maps never ship (.vscodeignore allows neither; node_modules' are skipped).
  const sources = entries.map((e) => e.name).filter((name) => /\.(?:ts|map)$/.test(name));
  if (sources.length > 0) fail(`${path.basename(out)} contains sources or source maps:\n  - ${sources.slice(0, 20).join("\n  - ")}`);
  if (missing.length > 0) fail(`${path.basename(out)} lacks:\n  - ${missing.join("\n  - ")}`);
  if (foreign.length > 0) fail(`${path.basename(out)} contains other platforms' binaries: ${foreign.join(", ")}`);
  fs.rmSync(stageRoot, { recursive: true, force: true });
  const size = fs.statSync(out).size;
  const unpacked = entries.reduce((s, e) => s + e.size, 0);
  detail(`verified: ${entries.length} files, native addons: ${addons.map((a) => a.replace("extension/node_modules/", "")).join(", ")}`);
  log(`wrote ${path.relative(process.cwd(), out) || out}: ${humanSize(size)} (${humanSize(unpacked)} unpacked, ${entries.length} files, ${addons.length} native addons verified) in ${seconds(t0)}`);
  if (logFile && !opts.log) log(`details (build output, vsce's file list): ${path.relative(process.cwd(), logFile) || logFile}`);
}

/**
 * The bundles' sizes, one line. dist/extension.js is about 1 MB unminified, 0.9 MB of it the
 * language client (vscode-languageclient, -jsonrpc, -protocol, -types); esbuild marks that size with
 * ⚠️ in its table, which is in the log file: `--production` minifies it.
 */
function bundleSizes() {
  return ["dist/extension.js", "dist/server.js", "media/dist/chat.js", "media/dist/diagnostics.js"]
    .filter((file) => fs.existsSync(path.join(repoRoot, file)))
    .map((file) => `${file} ${humanSize(fs.statSync(path.join(repoRoot, file)).size)}`)
    .join(", ");
}

/** "-ext" packages extend a base binary package with libraries (CUDA runtime); they carry no addon. */
function isExtensionPackage(name) {
  return name.endsWith("-ext");
}

function closureVersion(closure, name) {
  for (const p of closure.values()) if (p.name === name) return p.version;
  return "*";
}

main().catch((err) => fail(err instanceof Error ? err.stack ?? err.message : String(err)));
