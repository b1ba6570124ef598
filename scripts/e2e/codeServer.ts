// code-server (VS Code 1.139 on Node 24, see ../shared/E2E.md) for `npm start` and the e2e tests:
// an isolated profile (user data, extensions, XDG dirs, config), .vsix installation, start/stop
// of the server in its own process group, and the bundled VS Code server with the smoke-test driver
// for extension-host tests.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ToolPaths } from "./tools.mjs";
import { startGroup, type Group } from "./processes";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const tinyModel = path.resolve(repoRoot, "..", "shared", "models", "tinycoder-16m-q8_0.gguf");

/** User settings for a quiet profile (E2E.md pitfall 6). */
export const quietSettings: Record<string, unknown> = {
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "editor.quickSuggestions": { other: "off", comments: "off", strings: "off" },
  "chat.disableAIFeatures": true,
  "workbench.tips.enabled": false,
  "workbench.welcomePage.walkthroughs.openOnInstall": false,
  "extensions.ignoreRecommendations": true,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "git.enabled": false,
  "window.restoreWindows": "none",
  "workbench.secondarySideBar.defaultVisibility": "hidden",
};

export interface Profile {
  root: string;
  userDataDir: string;
  extensionsDir: string;
  serverDataDir: string;
  configFile: string;
  workspace: string;
  /** User settings (UI, editor). */
  settingsFile: string;
  /**
   * Remote ("machine") settings of the code-server host. In a remote window — code-server is one —
   * VS Code ignores machine / machine-overridable settings (streamsink.model.path) in the user
   * settings file and reads them from here ("Remote" tab of the Settings editor).
   */
  machineSettingsFile: string;
  logDir: string;
  env: NodeJS.ProcessEnv;
}

export function profileAt(root: string): Profile {
  const abs = path.resolve(root);
  return {
    root: abs,
    userDataDir: path.join(abs, "user-data"),
    extensionsDir: path.join(abs, "extensions"),
    serverDataDir: path.join(abs, "server-data"),
    configFile: path.join(abs, "config.yaml"),
    workspace: path.join(abs, "workspace"),
    settingsFile: path.join(abs, "user-data", "User", "settings.json"),
    machineSettingsFile: path.join(abs, "user-data", "Machine", "settings.json"),
    logDir: path.join(abs, "logs"),
    env: {
      ...process.env,
      XDG_CONFIG_HOME: path.join(abs, "xdg", "config"),
      XDG_DATA_HOME: path.join(abs, "xdg", "data"),
      XDG_CACHE_HOME: path.join(abs, "xdg", "cache"),
      // The machine's npmrc points node-gyp at Node 20 headers; nothing here builds, but be safe.
      npm_config_nodedir: undefined,
    },
  };
}

/** Creates (or reuses) a profile; `fresh` wipes it first. Writes the workspace and user settings. */
export function prepareProfile(root: string, opts: { fresh: boolean; settings: Record<string, unknown>; workspaceFiles?: Record<string, string> }): Profile {
  const p = profileAt(root);
  if (opts.fresh) fs.rmSync(p.root, { recursive: true, force: true });
  for (const d of [p.userDataDir, p.extensionsDir, p.serverDataDir, p.workspace, p.logDir, path.dirname(p.settingsFile), path.dirname(p.machineSettingsFile)]) {
    fs.mkdirSync(d, { recursive: true });
  }
  for (const key of ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"] as const) fs.mkdirSync(p.env[key]!, { recursive: true });
  fs.writeFileSync(p.configFile, "auth: none\ncert: false\n");
  const existing = (file: string): Record<string, unknown> => {
    if (opts.fresh || !fs.existsSync(file)) return {};
    try {
      return JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      return {};
    }
  };
  // The given settings go to both files (user: desktop semantics; machine: what a remote window reads).
  writeJson(p.settingsFile, { ...existing(p.settingsFile), ...quietSettings, ...opts.settings });
  writeJson(p.machineSettingsFile, { ...existing(p.machineSettingsFile), ...opts.settings });
  for (const [name, text] of Object.entries(opts.workspaceFiles ?? {})) {
    const file = path.join(p.workspace, name);
    if (!fs.existsSync(file)) fs.writeFileSync(file, text);
  }
  return p;
}

/** One write of the whole file, which VS Code's file watcher picks up. */
function writeJson(file: string, value: Record<string, unknown>): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Merges `patch` into the user and the machine (remote) settings files (undefined removes a key),
 * as a user editing settings.json would; the running window applies it without reloading.
 */
export function updateSettings(p: Profile, patch: Record<string, unknown>): void {
  for (const file of [p.settingsFile, p.machineSettingsFile]) {
    const next: Record<string, unknown> = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    writeJson(file, next);
  }
}

function codeServerArgs(tools: ToolPaths, p: Profile): string[] {
  return [
    tools.codeServerEntry,
    "--auth",
    "none",
    "--disable-telemetry",
    "--disable-update-check",
    "--disable-workspace-trust",
    "--user-data-dir",
    p.userDataDir,
    "--extensions-dir",
    p.extensionsDir,
    "--config",
    p.configFile,
  ];
}

/** `code-server --install-extension <vsix> --force` into the profile (≈2 s). */
export function installVsix(tools: ToolPaths, p: Profile, vsix: string): void {
  const r = spawnSync(tools.node24, [...codeServerArgs(tools, p), "--install-extension", vsix, "--force"], {
    env: p.env,
    encoding: "utf8",
    timeout: 120_000,
  });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.status !== 0 || !/successfully installed/i.test(out)) {
    throw new Error(`installing ${path.basename(vsix)} failed (exit ${r.status}):\n${out}`);
  }
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForHttp(url: string, group: Group, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void group.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${group.name} exited before answering ${url}:\n${group.output().slice(-4000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${group.name} did not answer ${url} within ${timeoutMs / 1000} s:\n${group.output().slice(-4000)}`);
}

export interface RunningServer {
  group: Group;
  port: number;
  /** URL that opens the profile's workspace. */
  url: string;
  stop(): Promise<void>;
}

/** Starts code-server on 127.0.0.1:<port> in its own process group; resolves once /healthz answers. */
export async function startCodeServer(tools: ToolPaths, p: Profile, opts: { port?: number; folder?: string; host?: string } = {}): Promise<RunningServer> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? (await freePort());
  const group = startGroup(
    "code-server",
    tools.node24,
    [...codeServerArgs(tools, p), "--bind-addr", `${host}:${port}`, "--reconnection-grace-time", "5", "--ignore-last-opened"],
    { env: p.env, cwd: p.root, logFile: path.join(p.logDir, "code-server.log") },
  );
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, group);
  const folder = opts.folder ?? p.workspace;
  return { group, port, url: `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`, stop: () => group.stop() };
}

/**
 * The VS Code server bundled in code-server, with --enable-smoke-test-driver (code-server itself
 * rejects that flag): used for extension-host tests via extensionDevelopmentPath/extensionTestsPath.
 */
export async function startVsCodeServer(tools: ToolPaths, p: Profile): Promise<RunningServer> {
  const port = await freePort();
  const group = startGroup(
    "vscode-server",
    tools.node24,
    [
      tools.vscodeServerMain,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--without-connection-token",
      "--accept-server-license-terms",
      "--enable-smoke-test-driver",
      "--disable-telemetry",
      "--user-data-dir",
      p.userDataDir,
      "--server-data-dir",
      p.serverDataDir,
      "--extensions-dir",
      p.extensionsDir,
    ],
    { env: p.env, cwd: p.root, logFile: path.join(p.logDir, "vscode-server.log") },
  );
  // The bundled server has no /healthz; its root page answers once it listens.
  await waitForHttp(`http://127.0.0.1:${port}/version`, group).catch(async () => waitForHttp(`http://127.0.0.1:${port}/`, group));
  return { group, port, url: `http://127.0.0.1:${port}/`, stop: () => group.stop() };
}
