// What the tests that run webview code in a real DOM share: Debian's chromium through
// playwright-core, and the webview source bundled the way esbuild.js bundles it for the page.
import { existsSync } from "node:fs";
import path from "node:path";
import * as esbuild from "esbuild";
import { chromium, type Browser } from "playwright-core";
import { repoRoot } from "./paths";

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** node:test's `skip` option: false where chromium is installed, else why the suite is skipped. */
export const skipWithoutChromium: false | string = existsSync(chromiumPath) ? false : `no chromium at ${chromiumPath} (apt-get install chromium)`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
}

/** A webview module (path relative to the repo) as one browser script; `globalName` exposes its exports. */
export async function pageBundle(entry: string, globalName?: string): Promise<string> {
  const bundle = await esbuild.build({
    entryPoints: [path.join(repoRoot, entry)],
    bundle: true,
    platform: "browser",
    format: "iife",
    ...(globalName ? { globalName } : {}),
    write: false,
    target: "es2022",
  });
  return bundle.outputFiles[0]!.text;
}
