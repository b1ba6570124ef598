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
];

async function main() {
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
