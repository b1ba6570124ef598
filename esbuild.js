// One build script, two bundles:
//   dist/extension.js — the extension host client (vscode is provided by the host);
//   dist/server.js    — the language server process (node-llama-cpp stays external and is loaded
//                       with a dynamic import(), because it is ESM with top-level await).
// Flags: --watch (rebuild on change), --production (minify, no source maps).
const esbuild = require("esbuild");

const watch = process.argv.includes("--watch");
const production = process.argv.includes("--production");

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  sourcemap: !production,
  minify: production,
  logLevel: "info",
};

const builds = [
  { ...common, entryPoints: { extension: "src/extension.ts" }, outdir: "dist", external: ["vscode"] },
  {
    ...common,
    entryPoints: { server: "server/server.ts" },
    outdir: "dist",
    external: ["node-llama-cpp", "@node-llama-cpp/*"],
  },
  // media/dist/chat.js — the chat webview's script (browser, one file; shipped by .vscodeignore's
  // `!media/**`). Its codicons font and CSS are copied next to it by copyCodicons().
  {
    bundle: true,
    platform: "browser",
    target: "es2022",
    format: "iife",
    sourcemap: !production,
    minify: production,
    logLevel: "info",
    entryPoints: { chat: "media/chat/main.ts" },
    outdir: "media/dist",
  },
];

/** Copies @vscode/codicons' CSS + font into media/dist/codicons (the webview may load only media/). */
function copyCodicons() {
  const fs = require("node:fs");
  const path = require("node:path");
  const from = path.dirname(require.resolve("@vscode/codicons/dist/codicon.css"));
  const to = path.join(__dirname, "media", "dist", "codicons");
  fs.mkdirSync(to, { recursive: true });
  for (const file of ["codicon.css", "codicon.ttf"]) fs.copyFileSync(path.join(from, file), path.join(to, file));
}

async function main() {
  copyCodicons();
  if (watch) {
    const contexts = await Promise.all(builds.map((options) => esbuild.context(options)));
    await Promise.all(contexts.map((ctx) => ctx.watch()));
    return;
  }
  await Promise.all(builds.map((options) => esbuild.build(options)));
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
