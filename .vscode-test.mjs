// @vscode/test-cli configuration for contributors whose machines can download VS Code
// (`npm run test:vscode`; not run in CI, which has no internet: CI runs the same test/vscode suite
// inside code-server's VS Code server through `npm run test:e2e`). Needs the tiny test model at
// ../shared/models/tinycoder-16m-q8_0.gguf (or edit the setting below).
import { defineConfig } from "@vscode/test-cli";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const model = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "..", "shared", "models", "tinycoder-16m-q8_0.gguf");
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), "streamsink-vscode-test-"));
const userDataDir = path.join(workspace, ".user-data");
fs.mkdirSync(path.join(userDataDir, "User"), { recursive: true });
fs.writeFileSync(
  path.join(userDataDir, "User", "settings.json"),
  JSON.stringify({ "streamsink.model.path": model, "streamsink.model.backend": "cpu", "streamsink.threads": 2, "workbench.startupEditor": "none" }, null, 2),
);

export default defineConfig({
  label: "extension-host",
  files: "out/vscode-test/**/*.test.js",
  version: "stable",
  workspaceFolder: workspace,
  launchArgs: ["--user-data-dir", userDataDir, "--disable-extensions", "--disable-workspace-trust"],
  mocha: { ui: "bdd", timeout: 120000 },
});
