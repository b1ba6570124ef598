// npm start [-- --port 8080] [--host 127.0.0.1] [--fresh] [--no-package] [--gpu vulkan|cuda|none|all]
//
// Builds and packages the .vsix (npm run package), installs it into a code-server profile kept in
// .cache/start/profile (reused between runs; --fresh starts from scratch), sets
// streamsink.model.path to $STREAMSINK_MODEL if set, else ../shared/models/tinycoder-16m-q8_0.gguf
// when present, opens a workspace folder (.cache/start/profile/workspace, or --folder DIR), prints the
// URL to open. Ctrl+C stops code-server and everything it started (process group).
// The console gets one line per step with its measured duration; the installers', the build's and
// vsce's output go to .cache/start/start.log (its path is printed first).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { installVsix, prepareProfile, repoRoot, startCodeServer, tinyModel, updateSettings } from "./codeServer";
import { installSignalHandlers, shuttingDown, stopAll } from "./processes";
import { ensureTools, toolsDir } from "./tools.mjs";

function usage(): never {
  const text = fs.readFileSync(new URL(import.meta.url).pathname, "utf8").split("\n").slice(0, 7).map((l) => l.replace(/^\/\/ ?/, ""));
  process.stdout.write(text.join("\n") + "\n");
  process.exit(0);
}

function parse(argv: string[]) {
  const opts = { port: 8080, portGiven: false, host: "127.0.0.1", fresh: false, package: true, gpu: undefined as string | undefined, folder: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [name, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    if (name === "--port") {
      opts.port = Number(value());
      opts.portGiven = true;
      if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new Error(`--port must be 1..65535`);
    } else if (name === "--host") opts.host = value();
    else if (name === "--fresh") opts.fresh = true;
    else if (name === "--no-package") opts.package = false;
    else if (name === "--gpu") opts.gpu = value();
    else if (name === "--folder") opts.folder = path.resolve(value());
    else if (name === "--help" || name === "-h") usage();
    else throw new Error(`unknown argument ${a} (see npm start -- --help)`);
  }
  return opts;
}

async function portFree(host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

let logFile: string | undefined;

function say(message: string): void {
  process.stdout.write(`[start] ${message}\n`);
  if (logFile) fs.appendFileSync(logFile, `[start] ${message}\n`);
}

function secondsSince(started: number): string {
  return `${((Date.now() - started) / 1000).toFixed(1)} s`;
}

async function main(): Promise<void> {
  const opts = parse(process.argv.slice(2));
  installSignalHandlers();
  const t0 = Date.now();
  const startDir = path.join(repoRoot, ".cache", "start");
  fs.mkdirSync(startDir, { recursive: true });
  logFile = path.join(startDir, "start.log");
  fs.writeFileSync(logFile, `npm start ${process.argv.slice(2).join(" ")} — ${new Date().toISOString()}\n`);
  say(`details: ${path.relative(process.cwd(), logFile)}`);

  const toolsStarted = Date.now();
  const cold = !fs.existsSync(path.join(toolsDir, "code-server", ".installed")) || !fs.existsSync(path.join(toolsDir, "node24", ".installed"));
  const tools = ensureTools({ logFile });
  say(`toolchain (Node 24 + code-server in .tools/): ${cold ? "installed" : "cached"} in ${secondsSince(toolsStarted)}`);

  const vsix = path.join(startDir, "streamsink.vsix");
  if (opts.package || !fs.existsSync(vsix)) {
    const args = [path.join(repoRoot, "scripts", "package.mjs"), "--out", vsix, "--log", logFile, ...(opts.gpu ? ["--gpu", opts.gpu] : [])];
    const r = spawnSync(process.execPath, args, { cwd: repoRoot, stdio: "inherit" });
    if (r.status !== 0) throw new Error(`packaging failed (see above and ${path.relative(process.cwd(), logFile)})`);
  }

  let modelPath: string | undefined;
  const envModel = process.env.STREAMSINK_MODEL;
  if (envModel) {
    modelPath = path.resolve(envModel);
    if (!fs.existsSync(modelPath)) say(`warning: STREAMSINK_MODEL=${envModel} does not exist; StreamSink will show the error`);
  } else if (fs.existsSync(tinyModel)) {
    modelPath = tinyModel;
  }

  const profile = prepareProfile(path.join(startDir, "profile"), {
    fresh: opts.fresh,
    settings: modelPath ? { "streamsink.model.path": modelPath } : {},
    workspaceFiles: opts.folder
      ? {}
      : {
          "example.py": "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
          "README.md": "# StreamSink playground\n\nOpen the StreamSink views, or run `StreamSink:` commands from the command palette (F1).\n",
        },
  });
  if (modelPath) updateSettings(profile, { "streamsink.model.path": modelPath });
  const installStarted = Date.now();
  installVsix(tools, profile, vsix);
  say(`installed the .vsix into code-server: ${secondsSince(installStarted)}`);

  let port = opts.port;
  if (!(await portFree(opts.host, port))) {
    if (opts.portGiven) throw new Error(`port ${port} on ${opts.host} is in use: pick another with --port`);
    const probe = net.createServer();
    port = await new Promise<number>((resolve) => probe.listen(0, opts.host, () => {
      const p = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(p));
    }));
    say(`port ${opts.port} is in use; using ${port}`);
  }
  const serverStarted = Date.now();
  const server = await startCodeServer(tools, profile, { port, folder: opts.folder, host: opts.host });
  say(`code-server up: ${secondsSince(serverStarted)}`);
  const url = server.url.replace("127.0.0.1", opts.host === "0.0.0.0" ? "localhost" : opts.host);
  say(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  say(`model: ${modelPath ?? "(none: set streamsink.model.path in the Settings editor's Remote tab, or STREAMSINK_MODEL)"}`);
  say(`profile: ${path.relative(process.cwd(), profile.root)} (npm start -- --fresh to reset); logs: ${path.relative(process.cwd(), profile.logDir)}`);
  process.stdout.write(`\n  Open ${url}\n\n  (remote machine? ssh -L ${port}:127.0.0.1:${port} <host>)  Ctrl+C stops it.\n\n`);
  const code = await server.group.exited;
  if (shuttingDown()) return; // Ctrl+C: the signal handler stops everything and exits
  say(`code-server exited (${code}); last output:\n${server.group.output().slice(-3000)}`);
  await stopAll();
  process.exit(code === 0 ? 0 : 1);
}

main().catch(async (err) => {
  process.stderr.write(`[start] ERROR: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAll();
  process.exit(1);
});
