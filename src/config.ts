// Reads StreamSink's VS Code configuration into the one typed Settings object (sanitised in
// common/settings.ts) and tells what a change needs: a live reconfigure or a server restart.
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import { restartServerSettings, sanitizeSettings, type SanitizedSettings, type SettingProblem } from "../common/settings";
import { log } from "./log";

export const section = "streamsink";

function expandPath(value: string): string {
  let expanded = value.replace(/^~(?=$|[\\/])/, os.homedir());
  expanded = expanded.replace(/\$\{userHome\}/g, os.homedir());
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (folder !== undefined) expanded = expanded.replace(/\$\{workspaceFolder\}/g, folder);
  if (!path.isAbsolute(expanded) && folder !== undefined) expanded = path.resolve(folder, expanded);
  return expanded;
}

export function readSettings(): SanitizedSettings {
  const config = vscode.workspace.getConfiguration(section);
  return sanitizeSettings((key) => config.get(key), expandPath);
}

export function needsServerRestart(event: vscode.ConfigurationChangeEvent): boolean {
  return restartServerSettings.some((key) => event.affectsConfiguration(`${section}.${key}`));
}

/** Logs the settings that were ignored and says so once, with a way to the settings. */
export function reportProblems(problems: SettingProblem[]): void {
  for (const problem of problems) log.warn(problem.message);
  if (problems.length > 0) {
    void vscode.window
      .showWarningMessage(`StreamSink: ${problems.map((problem) => problem.message).join(" ")}`, "Open Settings")
      .then((choice) => {
        if (choice) void vscode.commands.executeCommand("workbench.action.openSettings", section);
      });
  }
}
