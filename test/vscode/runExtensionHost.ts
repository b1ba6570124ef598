// Runs test/vscode (mocha) inside a real VS Code extension host without downloading VS Code:
// the VS Code server bundled in code-server, started with --enable-smoke-test-driver, loads the
// extension from the repo (extensionDevelopmentPath) and the tests (extensionTestsPath) given in
// the page's `payload`; Chromium opens that page; window.codeAutomationExit receives the exit code.
//   node --import tsx test/vscode/runExtensionHost.ts      (npm run test:exthost; needs npm run build)
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { freePort, prepareProfile, repoRoot, startVsCodeServer, tinyModel } from "../../scripts/e2e/codeServer";
import { installSignalHandlers, processesMentioning, stopAll } from "../../scripts/e2e/processes";
import { ensureTools, type ToolPaths } from "../../scripts/e2e/tools.mjs";
import { buildVscodeTests } from "./build.mjs";

export interface ExtensionHostResult {
  exitCode: number | undefined;
  tests: { title: string; ok: boolean; error?: string }[];
  error?: string;
}

const resultsDir = path.join(repoRoot, "test-results", "exthost");

export async function runExtensionHostTests(tools: ToolPaths, opts: { log: (m: string) => void; modelPath?: string; timeoutMs?: number }): Promise<ExtensionHostResult> {
  const { log } = opts;
  for (const f of ["dist/extension.js", "dist/server.js"]) {
    if (!fs.existsSync(path.join(repoRoot, f))) throw new Error(`${f} missing: run npm run build first`);
  }
  const testsDir = await buildVscodeTests();
  fs.rmSync(resultsDir, { recursive: true, force: true });
  fs.mkdirSync(resultsDir, { recursive: true });
  const resultsFile = path.join(resultsDir, "results.json");
  const profile = prepareProfile(path.join(repoRoot, ".cache", "e2e", "exthost-profile"), {
    fresh: true,
    settings: { "streamsink.model.path": opts.modelPath ?? tinyModel, "streamsink.model.backend": "cpu", "streamsink.threads": 1 },
    workspaceFiles: { "hello.py": "print('hello')\n" },
  });
  profile.env.STREAMSINK_EXTHOST_RESULTS = resultsFile;
  void freePort;
  const server = await startVsCodeServer(tools, profile);
  const browserDir = path.join(profile.root, "chromium");
  const browser = await chromium.launchPersistentContext(browserDir, {
    executablePath: tools.chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  const logFile = fs.createWriteStream(path.join(resultsDir, "extension-host.log"));
  let exitCode: number | undefined;
  let error: string | undefined;
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    const exited = new Promise<number>((resolve) => {
      void page.exposeFunction("codeAutomationExit", (code: number) => resolve(code));
    });
    await page.exposeFunction("codeAutomationLog", (type: string, args: unknown[]) => {
      const text = (Array.isArray(args) ? args : [args]).map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ");
      logFile.write(`[${type}] ${text}\n`);
    });
    const authority = `127.0.0.1:${server.port}`;
    const payload = [
      ["extensionDevelopmentPath", `vscode-remote://${authority}${repoRoot}`],
      ["extensionTestsPath", `vscode-remote://${authority}${path.join(testsDir, "index.js")}`],
    ];
    const url = `${server.url}?folder=${encodeURIComponent(profile.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    await page.goto(url);
    const timeoutMs = opts.timeoutMs ?? 300_000;
    const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs).unref());
    const outcome = await Promise.race([exited, timeout]);
    if (outcome === "timeout") {
      error = `no exit code within ${timeoutMs / 1000} s`;
      await page.screenshot({ path: path.join(resultsDir, "timeout.png") }).catch(() => {});
    } else exitCode = outcome;
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    await browser.close().catch(() => {});
    await server.stop();
    logFile.end();
    const leaked = processesMentioning(profile.root);
    if (leaked.length > 0) error = `${error ? `${error}; ` : ""}processes still running after stop: ${leaked.join(", ")}`;
    try {
      fs.cpSync(profile.logDir, path.join(resultsDir, "logs"), { recursive: true });
    } catch {
      // logs are a convenience
    }
  }
  let tests: ExtensionHostResult["tests"] = [];
  if (fs.existsSync(resultsFile)) {
    tests = (JSON.parse(fs.readFileSync(resultsFile, "utf8")) as { results: ExtensionHostResult["tests"] }).results;
  } else {
    error ??= `the tests wrote no results (exit code ${exitCode}); see ${path.relative(process.cwd(), resultsDir)}/extension-host.log`;
  }
  for (const t of tests) log(`  ${t.ok ? "ok" : "FAILED"} exthost: ${t.title}${t.ok ? "" : `\n${t.error}`}`);
  return { exitCode, tests, error };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  installSignalHandlers();
  const t0 = Date.now();
  const log = (m: string) => process.stdout.write(`[exthost ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}\n`);
  runExtensionHostTests(ensureTools(), { log })
    .then(async (r) => {
      await stopAll();
      const passed = r.tests.filter((t) => t.ok).length;
      const failed = r.tests.length - passed + (r.error || r.tests.length === 0 ? 1 : 0);
      if (r.error) log(`error: ${r.error}`);
      process.stdout.write(`${passed} passed, ${failed} failed\n`);
      process.exit(failed === 0 && r.exitCode === 0 ? 0 : 1);
    })
    .catch(async (err) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      await stopAll();
      process.stdout.write("0 passed, 1 failed\n");
      process.exit(1);
    });
}
