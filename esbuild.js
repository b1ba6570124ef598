// One build script, four bundles:
//   dist/extension.js        — the extension host client (vscode is provided by the host);
//   dist/server.js           — the language server process (node-llama-cpp stays external and is
//                              loaded with a dynamic import(), because it is ESM with top-level await);
//   media/dist/chat.js       — the chat webview's script (src/webview/chat/main.ts);
//   media/dist/diagnostics.js — the diagnostics webview's script (src/webview/diagnostics/main.ts).
// The webviews may load only media/: their CSS and icon live there, the codicons font and CSS are
// copied next to the scripts by copyCodicons(). media/dist/ is build output (git-ignored).
// Flags: --watch (rebuild on change), --production (minify, no source maps), --no-sourcemap (no
// source maps: `npm run package` builds so, since maps are not shipped).
const esbuild = require("esbuild");

const watch = process.argv.includes("--watch");
const production = process.argv.includes("--production");
const sourcemap = !production && !process.argv.includes("--no-sourcemap");

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  sourcemap,
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
  {
    bundle: true,
    platform: "browser",
    target: "es2022",
    format: "iife",
    sourcemap,
    minify: production,
    logLevel: "info",
    entryPoints: { chat: "src/webview/chat/main.ts", diagnostics: "src/webview/diagnostics/main.ts" },
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
