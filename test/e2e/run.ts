// npm run test:e2e — StreamSink in real VS Code (code-server 4.139.1 = VS Code 1.139, Node 24),
// driven by Chromium through playwright-core. See ../../../shared/E2E.md and test/e2e/README.md.
//
//   node --import tsx test/e2e/run.ts [--no-package] [--only <id>[,<id>]] [--skip-exthost] [--skip-ui]
//
// 1. installs or reuses the toolchain (.tools/), 2. builds and packages the .vsix,
// 3. runs the extension-host tests (test/vscode, mocha inside the real extension host),
// 4. installs the .vsix into a fresh code-server profile (.cache/e2e/profile) with
//    streamsink.model.path = ../shared/models/tinycoder-16m-q8_0.gguf and runs the UI steps
//    (steps/index.ts), a screenshot per step in test-results/e2e/.
// Every server and browser is stopped by process group whatever happens. Last line: "N passed, N failed".
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { installVsix, prepareProfile, repoRoot, startCodeServer, tinyModel, type RunningServer } from "../../scripts/e2e/codeServer";
import { installSignalHandlers, processesMentioning, stopAll } from "../../scripts/e2e/processes";
import { ensureTools } from "../../scripts/e2e/tools.mjs";
import { runExtensionHostTests } from "../vscode/runExtensionHost";
import { makeContext, resultsDir } from "./harness";
import { steps } from "./steps/index";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const onlyArg = args.find((a, i) => args[i - 1] === "--only");
const only = onlyArg?.split(",");

const e2eCache = path.join(repoRoot, ".cache", "e2e");
const vsixPath = path.join(e2eCache, "streamsink-e2e.vsix");
const t0 = Date.now();
const seconds = (from: number) => `${((Date.now() - from) / 1000).toFixed(1)} s`;
function log(message: string): void {
  process.stdout.write(`[e2e ${seconds(t0).padStart(7)}] ${message}\n`);
}

/**
 * Settings every e2e profile starts with (threads explicit: 2 shared cores). The context is the
 * smallest (256 tokens) so that the chat step overflows it several times in a few answers; the
 * completion and diagnostics steps work with it too.
 */
export function e2eSettings(modelPath: string): Record<string, unknown> {
  return { "streamsink.model.path": modelPath, "streamsink.model.backend": "cpu", "streamsink.threads": 1, "streamsink.context.size": 256 };
}

export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export async function launchChromium(executablePath: string, userDataDir: string): Promise<BrowserContext> {
  fs.rmSync(userDataDir, { recursive: true, force: true });
  return await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1400, height: 900 },
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
}

interface Outcome {
  name: string;
  ok: boolean;
  detail?: string;
}

async function main(): Promise<number> {
  const outcomes: Outcome[] = [];
  let browser: BrowserContext | undefined;
  let server: RunningServer | undefined;
  const closeBrowser = async () => {
    const b = browser;
    browser = undefined;
    await b?.close().catch(() => {});
  };
  installSignalHandlers(closeBrowser);
  fs.rmSync(resultsDir, { recursive: true, force: true });
  fs.mkdirSync(resultsDir, { recursive: true });

  if (!fs.existsSync(tinyModel)) throw new Error(`test model missing: ${tinyModel} (CI clones the repo with shared/ beside it)`);

  log("toolchain");
  const tools = ensureTools();

  if (!flag("--no-package") || !fs.existsSync(vsixPath)) {
    log("build + package (npm run package)");
    const tp = Date.now();
    fs.mkdirSync(e2eCache, { recursive: true });
    const r = spawnSync(process.execPath, [path.join(repoRoot, "scripts", "package.mjs"), "--gpu", "none", "--out", vsixPath], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
      encoding: "utf8",
    });
    const summary = r.stdout.split("\n").filter((l) => l.startsWith("[package] wrote") || l.startsWith("[package] verified"));
    for (const l of summary) log(l);
    if (r.status !== 0) {
      process.stdout.write(r.stdout);
      throw new Error(`packaging failed (exit ${r.status})`);
    }
    log(`packaged in ${seconds(tp)}`);
  }

  if (!flag("--skip-exthost")) {
    const te = Date.now();
    log("extension-host tests (VS Code server --enable-smoke-test-driver)");
    const result = await runExtensionHostTests(tools, { log, modelPath: tinyModel });
    for (const t of result.tests) outcomes.push({ name: `exthost: ${t.title}`, ok: t.ok, detail: t.error });
    if (result.tests.length === 0 || result.exitCode !== 0 && result.tests.every((t) => t.ok)) {
      outcomes.push({ name: "exthost: run", ok: false, detail: result.error ?? `exit code ${result.exitCode}, ${result.tests.length} tests reported` });
    }
    log(`extension-host tests done in ${seconds(te)}`);
  }

  if (!flag("--skip-ui")) {
    const selected = steps.filter((s) => !only || only.includes(s.id));
    const profile = prepareProfile(path.join(e2eCache, "profile"), {
      fresh: true,
      settings: e2eSettings(tinyModel),
      workspaceFiles: { "hello.py": "def greet(name):\n    return 'Hello, ' + name\n", "fib.py": "" },
    });
    try {
      const ti = Date.now();
      installVsix(tools, profile, vsixPath);
      log(`installed the .vsix into a fresh profile in ${seconds(ti)}`);
      server = await startCodeServer(tools, profile);
      log(`code-server on ${server.url}`);
      browser = await launchChromium(tools.chromium, path.join(profile.root, "chromium"));
      const page = browser.pages()[0] ?? (await browser.newPage());
      const consoleLog = fs.createWriteStream(path.join(resultsDir, "browser-console.log"));
      page.on("console", (m) => consoleLog.write(`[${m.type()}] ${m.text()}\n`));
      page.on("pageerror", (e) => consoleLog.write(`[pageerror] ${e.message}\n`));
      await page.goto(server.url);
      for (const [i, step] of selected.entries()) {
        const ts = Date.now();
        const index = steps.indexOf(step) + 1;
        const ctx = makeContext(page, profile, tinyModel, index, step, (m) => log(`  ${step.id}: ${m}`));
        log(`step ${index} ${step.id}: ${step.title}`);
        try {
          await step.run(ctx);
          outcomes.push({ name: `ui: ${step.id}`, ok: true });
          log(`  ok ${step.id} (${seconds(ts)})`);
        } catch (err) {
          const detail = err instanceof Error ? err.message : String(err);
          outcomes.push({ name: `ui: ${step.id}`, ok: false, detail });
          log(`  FAILED ${step.id} (${seconds(ts)}): ${detail}`);
        } finally {
          await page.screenshot({ path: path.join(resultsDir, `${String(index).padStart(2, "0")}-${step.id}.png`) }).catch(() => {});
        }
        void i;
      }
    } catch (err) {
      outcomes.push({ name: "ui: setup", ok: false, detail: err instanceof Error ? err.message : String(err) });
      log(`UI setup FAILED: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await closeBrowser();
      await server?.stop();
      await stopAll();
      const leaked = processesMentioning(profile.root);
      if (leaked.length > 0) {
        outcomes.push({ name: "ui: processes stopped", ok: false, detail: `still running: ${leaked.join(", ")}` });
        for (const pid of leaked) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone
          }
        }
      }
      copyLogs(profile.logDir, profile.userDataDir);
    }
  }

  process.stdout.write("\n");
  for (const o of outcomes) process.stdout.write(`${o.ok ? "✔" : "✖"} ${o.name}${o.ok ? "" : `\n    ${o.detail ?? ""}`}\n`);
  process.stdout.write(`screenshots and logs: ${path.relative(process.cwd(), resultsDir)}/ (${seconds(t0)} in all)\n`);
  const passed = outcomes.filter((o) => o.ok).length;
  const failed = outcomes.length - passed;
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

/** Copies server logs and the extension host's logs (incl. the StreamSink output channel). */
function copyLogs(logDir: string, userDataDir: string): void {
  const dest = path.join(resultsDir, "logs");
  try {
    fs.cpSync(logDir, path.join(dest, "server"), { recursive: true });
    const vscodeLogs = path.join(userDataDir, "logs");
    if (fs.existsSync(vscodeLogs)) fs.cpSync(vscodeLogs, path.join(dest, "vscode"), { recursive: true });
  } catch {
    // logs are a convenience
  }
}

main().then(
  (code) => process.exit(code),
  async (err) => {
    process.stderr.write(`[e2e] ${err instanceof Error ? err.stack : String(err)}\n`);
    await stopAll();
    process.stdout.write("0 passed, 1 failed\n");
    process.exit(1);
  },
);
