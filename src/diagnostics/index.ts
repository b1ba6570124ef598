// Diagnostics and model management on the client: the commands (Show/Copy Diagnostics, Reset Chat /
// Completion Cache, Select / Download Model), the status bar's KV fill, and the per-client
// notification handlers. Registered from src/extension.ts with one line.
import * as vscode from "vscode";
import { statusFillText, statusFillTooltip } from "../../common/diagnosticsView";
import { DownloadProgressNotification, KvFillNotification, ResetCacheRequest, type ResetCacheResult } from "../../common/protocol";
import type { ServerConnection } from "../client";
import { registerCommands } from "../commands";
import { readSettings } from "../config";
import { log } from "../log";
import type { StatusBar } from "../statusBar";
import { DownloadProgressRouter, downloadModel, selectModel } from "./models";
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

export function registerDiagnosticsFeature(
  context: vscode.ExtensionContext,
  connection: ServerConnection,
  statusBar: StatusBar,
): vscode.Disposable[] {
  const router = new DownloadProgressRouter();
  let clientHandlers: vscode.Disposable[] = [];
  const attach = () => {
    for (const handler of clientHandlers.splice(0)) handler.dispose();
    statusBar.setDetail(undefined);
    const client = connection.running;
    if (!client) return;
    clientHandlers = [
      client.onNotification(KvFillNotification.type, (fills) => {
        const list = Array.isArray(fills) ? fills : [];
        statusBar.setDetail(statusFillText(list), statusFillTooltip(list));
        log.debug(`KV fill: ${statusFillTooltip(Array.isArray(fills) ? fills : [])}`);
      }),
      client.onNotification(DownloadProgressNotification.type, (progress) => router.dispatch(progress)),
    ];
  };
  attach();

  // A backend that fell back to the CPU is said once per change, visibly (the status bar tooltip keeps it too).
  let lastNotice: string | undefined;
  const onStatus = connection.onStatus((status) => {
    const wanted = connection.currentSettings.model.backend;
    const fellBack = status.state === "ready" && status.backend === "cpu" && wanted !== "cpu" && wanted !== "auto";
    const notice = fellBack ? status.message : undefined;
    if (notice && notice !== lastNotice) void vscode.window.showWarningMessage(`StreamSink: ${notice}`, "Show Diagnostics").then((choice) => {
      if (choice) void vscode.commands.executeCommand("streamsink.showDiagnostics");
    });
    lastNotice = notice;
  });

  return [
    connection.onClient(() => attach()),
    onStatus,
    new vscode.Disposable(() => {
      for (const handler of clientHandlers.splice(0)) handler.dispose();
    }),
    ...registerCommands(connection, [
      {
        id: "streamsink.showDiagnostics",
        requiresReady: false,
        run: () => void DiagnosticsPanel.show(context.extensionUri, connection),
      },
      { id: "streamsink.copyDiagnostics", requiresReady: false, run: () => copyDiagnostics(context, connection) },
      { id: "streamsink.resetChatCache", requiresReady: true, run: () => resetCache(connection, "chat") },
      { id: "streamsink.resetCompletionCache", requiresReady: true, run: () => resetCache(connection, "completion") },
      { id: "streamsink.selectModel", requiresReady: false, run: () => selectModel(context, connection, router) },
      {
        id: "streamsink.downloadModel",
        requiresReady: false,
        run: (uri?: unknown, sha256?: unknown) => downloadModel(context, connection, router, uri, sha256),
      },
    ]),
  ];
}
