// Diagnostics on the client: the commands (Show/Copy Diagnostics, Reset Chat / Completion Cache), the
// status bar's KV fill (a per-client notification), and the notice when the backend fell back to the CPU.
import * as vscode from "vscode";
import { statusFillText, statusFillTooltip } from "../../common/diagnosticsView";
import { DisposableStore } from "../../common/disposable";
import { KvFillNotification, ResetCacheRequest, type ResetCacheResult } from "../../common/protocol";
import type { ServerConnection } from "../client";
import { registerCommands } from "../commands";
import { readSettings } from "../config";
import type { FeatureContext } from "../feature";
import { log } from "../log";
import { DiagnosticsPanel, requestSnapshot } from "./panel";
import { errorMessage } from "../../common/errors";

/** Resolves with the server's result (for callers of the command, e.g. tests), undefined when it failed. */
async function resetCache(connection: ServerConnection, label: "chat" | "completion"): Promise<ResetCacheResult | undefined> {
  const client = connection.running;
  if (!client) return undefined;
  try {
    const result = await client.sendRequest(ResetCacheRequest.type, { label });
    void vscode.window.showInformationMessage(`StreamSink: ${result.message}`);
    return result;
  } catch (error) {
    const message = errorMessage(error);
    log.error(`Reset ${label} cache: ${message}`);
    void vscode.window.showErrorMessage(`StreamSink: ${message}`);
    return undefined;
  }
}

async function copyDiagnostics(context: vscode.ExtensionContext, connection: ServerConnection): Promise<void> {
  const result = await requestSnapshot(connection);
  const report = {
    extension: { id: context.extension.id, version: String(context.extension.packageJSON?.version ?? "") },
    vscode: vscode.version,
    platform: `${process.platform}-${process.arch}`,
    settings: readSettings().settings,
    status: connection.currentStatus,
    ...("snapshot" in result ? { diagnostics: result.snapshot } : { unavailable: result.unavailable }),
  };
  const json = JSON.stringify(report, null, 2);
  await vscode.env.clipboard.writeText(json);
  const note = "snapshot" in result ? "" : " (the server is not running: settings and status only)";
  void vscode.window.showInformationMessage(`StreamSink: diagnostics copied to the clipboard${note}.`);
}

export function register({ extension, server: connection, statusBar, log }: FeatureContext): vscode.Disposable {
  const diagnostics = new DisposableStore();
  diagnostics.add(
    connection.forEachClient((client, scope) => {
      statusBar.setDetail(undefined);
      if (!client) return;
      scope.add(
        client.onNotification(KvFillNotification.type, (fills) => {
          const list = Array.isArray(fills) ? fills : [];
          statusBar.setDetail(statusFillText(list), statusFillTooltip(list));
          log.debug(`KV fill: ${statusFillTooltip(Array.isArray(fills) ? fills : [])}`);
        }),
      );
    }),
  );

  // A backend that fell back to the CPU is said once per change, visibly (the status bar tooltip keeps it too).
  let lastNotice: string | undefined;
  diagnostics.add(
    connection.onStatus((status) => {
      const wanted = connection.currentSettings.model.backend;
      const fellBack = status.state === "ready" && status.backend === "cpu" && wanted !== "cpu" && wanted !== "auto";
      const notice = fellBack ? status.message : undefined;
      if (notice && notice !== lastNotice) void vscode.window.showWarningMessage(`StreamSink: ${notice}`, "Show Diagnostics").then((choice) => {
        if (choice) void vscode.commands.executeCommand("streamsink.showDiagnostics");
      });
      lastNotice = notice;
    }),
  );

  diagnostics.add(
    registerCommands(connection, [
      {
        id: "streamsink.showDiagnostics",
        requiresReady: false,
        run: () => void DiagnosticsPanel.show(extension.extensionUri, connection),
      },
      { id: "streamsink.copyDiagnostics", requiresReady: false, run: () => copyDiagnostics(extension, connection) },
      { id: "streamsink.resetChatCache", requiresReady: true, run: () => resetCache(connection, "chat") },
      { id: "streamsink.resetCompletionCache", requiresReady: true, run: () => resetCache(connection, "completion") },
    ]),
  );
  return diagnostics;
}
