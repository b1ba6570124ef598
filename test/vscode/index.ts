// Mocha entry loaded by VS Code inside the extension host (extensionTestsPath). Runs every
// *.test.js next to it; writes per-test results to $STREAMSINK_EXTHOST_RESULTS when set (the
// smoke-test-driver runner reads them) and rejects when a test failed (exit code 1).
import fs from "node:fs";
import path from "node:path";
import Mocha from "mocha";

interface TestResult {
  title: string;
  ok: boolean;
  error?: string;
  durationMs?: number;
}

export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: "bdd", timeout: 120_000, color: false, reporter: "spec" });
  const dir = __dirname;
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".test.js")).sort()) mocha.addFile(path.join(dir, file));
  const results: TestResult[] = [];
  const failures = await new Promise<number>((resolve) => {
    const runner = mocha.run((count) => resolve(count));
    runner.on("pass", (test) => results.push({ title: test.fullTitle(), ok: true, durationMs: test.duration }));
    runner.on("fail", (test, err: Error) => results.push({ title: test.fullTitle(), ok: false, error: err?.stack ?? String(err) }));
  });
  const out = process.env.STREAMSINK_EXTHOST_RESULTS;
  if (out) fs.writeFileSync(out, JSON.stringify({ failures, results }, null, 2));
  if (failures > 0) throw new Error(`${failures} extension-host test(s) failed`);
}
