// Compiles test/vscode/*.ts into out/vscode-test/*.js (CommonJS, one bundle per file; vscode and
// mocha come from the host / node_modules). Used by the smoke-test-driver runner and test:vscode.
import esbuild from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const outDir = path.resolve(here, "..", "..", "out", "vscode-test");

export async function buildVscodeTests() {
  const entries = fs.readdirSync(here).filter((f) => f === "index.ts" || f.endsWith(".test.ts"));
  fs.rmSync(outDir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: entries.map((f) => path.join(here, f)),
    outdir: outDir,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    sourcemap: "inline",
    external: ["vscode", "mocha", "node-llama-cpp"],
    logLevel: "warning",
  });
  return outDir;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildVscodeTests().then(
    () => process.stdout.write(`built ${path.relative(process.cwd(), outDir)}\n`),
    (err) => {
      process.stderr.write(`${err}\n`);
      process.exit(1);
    },
  );
}
